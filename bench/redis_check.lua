-- bench/redis_check.lua: after a run, what was sold and whether anything
-- was oversold.  ARGV: lo, hi, units seeded; KEYS[1]: the orders list.
-- Returns {units sold, orders recorded, problem, problem, ...}: no problem
-- when every SKU has on_hand >= 0 and on_hand + sold = what it was seeded
-- with, and the orders list holds exactly one entry per unit sold.
local sold, problems = 0, {}
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
	local key = string.format('stock:%012d', i)
	local v = redis.call('HMGET', key, 'on_hand', 'sold')
	local on_hand, s = tonumber(v[1]), tonumber(v[2])
	if on_hand == nil or s == nil then
		table.insert(problems, key .. ': missing')
	else
		sold = sold + s
		if on_hand < 0 or s > tonumber(ARGV[3]) or on_hand + s ~= tonumber(ARGV[3]) then
			table.insert(problems, key .. ': on_hand ' .. on_hand .. ', sold ' .. s
						 .. ', seeded ' .. ARGV[3])
		end
	end
	if #problems >= 10 then break end
end
local orders = redis.call('LLEN', KEYS[1])
if orders ~= sold then
	table.insert(problems, 'orders recorded ' .. orders .. ', units sold ' .. sold)
end
local out = {sold, orders}
for _, p in ipairs(problems) do table.insert(out, p) end
return out
