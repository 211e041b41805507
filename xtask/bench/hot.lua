-- One hot key: every request is the same, so wrk sends a pre-built request and no Lua
-- runs per request (the cheapest load generator path, like the baseline's).

wrk.headers["X-Twin-Key"] = BENCH.key
