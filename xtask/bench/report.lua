-- Appended to every benchmark script: prints the run's figures as `BENCH <name> <value>`
-- lines that `cargo xtask bench http` parses. wrk's own `--latency` table stops at the
-- 99th percentile, so p99.9 has to come from here.

function done(summary, latency, requests)
   local e = summary.errors
   local function out(name, value)
      io.write(string.format("BENCH %s %d\n", name, value))
   end
   out("requests", summary.requests)
   out("duration_us", summary.duration)
   -- wrk counts every response with a status of 400 or more here.
   out("status_errors", e.status)
   out("connect_errors", e.connect)
   out("read_errors", e.read)
   out("write_errors", e.write)
   out("timeouts", e.timeout)
   out("p50_us", latency:percentile(50))
   out("p99_us", latency:percentile(99))
   out("p999_us", latency:percentile(99.9))
   out("max_us", latency.max)
   -- status.lua, when appended, adds the responses by status.
   if bench_extra_report then
      bench_extra_report(out)
   end
end
