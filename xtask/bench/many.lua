-- Many distinct keys in random order. Each wrk thread reads the key file, shuffles it with
-- its own seed and cycles through it, so every key is used about equally often and
-- consecutive requests rarely share a key. Requests are formatted once, in init, to keep
-- Lua work per request to a table lookup.

local requests = {}
local next_index = 1
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_number", thread_count)
end

function init(args)
   for key in io.lines(BENCH.keys_file) do
      if key ~= "" then
         requests[#requests + 1] = wrk.format("GET", BENCH.path, { ["X-Twin-Key"] = key })
      end
   end
   assert(#requests > 0, "no keys in " .. BENCH.keys_file)
   math.randomseed(BENCH.seed + (thread_number or 0) * 7919)
   -- Fisher-Yates shuffle.
   for i = #requests, 2, -1 do
      local j = math.random(i)
      requests[i], requests[j] = requests[j], requests[i]
   end
end

function request()
   local r = requests[next_index]
   next_index = next_index + 1
   if next_index > #requests then
      next_index = 1
   end
   return r
end
