-- Fixed request rate for plain wrk, which has no `-R` (that is wrk2). wrk calls delay()
-- before each request and waits that many milliseconds; here every request reserves the
-- next free send slot of its thread, spaced 1000 / rate_per_thread ms apart, so a thread
-- sends at the target rate as long as its connections are not all waiting for answers.
-- Unlike wrk2 this does not correct for coordinated omission: if the server stalls, the
-- slots it misses are skipped, not counted as late. The achieved rate is reported.

local ffi = require("ffi")
ffi.cdef([[
   struct bench_timespec { long tv_sec; long tv_nsec; };
   int clock_gettime(int clock_id, struct bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("struct bench_timespec")
local interval_ms = 1000 / BENCH.rate_per_thread
local next_slot_ms = nil

local function now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
   return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

function delay()
   local now = now_ms()
   if next_slot_ms == nil or next_slot_ms < now then
      next_slot_ms = now
   end
   local wait = next_slot_ms - now
   next_slot_ms = next_slot_ms + interval_ms
   -- wrk's timer has millisecond resolution; rounding keeps the average rate right.
   return math.floor(wait + 0.5)
end
