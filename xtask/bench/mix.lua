-- A mix of the public endpoints with one key. BENCH.mix (set by the xtask, which also
-- checks each path answers 200 first) lists { path, weight } pairs; the weights form a
-- shuffled cycle, so the mix is exact over every cycle and the order is no fixed pattern.

local cycle = {}
local next_index = 1
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_number", thread_count)
end

function init(args)
   local headers = { ["X-Twin-Key"] = BENCH.key }
   for _, w in ipairs(BENCH.mix) do
      local r = wrk.format("GET", w[1], headers)
      for _ = 1, w[2] do
         cycle[#cycle + 1] = r
      end
   end
   math.randomseed(BENCH.seed + (thread_number or 0) * 7919)
   for i = #cycle, 2, -1 do
      local j = math.random(i)
      cycle[i], cycle[j] = cycle[j], cycle[i]
   end
end

function request()
   local r = cycle[next_index]
   next_index = next_index + 1
   if next_index > #cycle then
      next_index = 1
   end
   return r
end
