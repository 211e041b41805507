-- Counts responses by HTTP status (wrk itself only counts "status >= 400"). Appended after a
-- traffic script that defines no setup() of its own (hot.lua). Each thread counts in its own
-- Lua state; done() runs in another state and collects the threads' tables, and report.lua
-- prints them as `BENCH status_<code> <n>` lines.
--
-- Defining response() makes wrk hand every response to Lua, which costs throughput: only
-- the runs that must count statuses (the replicas' quota run) use this.

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
end

statuses = {}

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function bench_extra_report(out)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + n
      end
   end
   for status, n in pairs(total) do
      out("status_" .. status, n)
   end
end
