-- bench/redis_lua.lua: the Redis design of the articles, one EVALSHA per
-- checkout: check that a unit is left and take it, and record the order,
-- atomically (a script runs alone).  The decrement is the sale: there is
-- no separate hold to commit, so this is one round trip and one AOF write
-- where the PostgreSQL contenders make two transactions.
--   KEYS[1]  the SKU's hash: on_hand (units left), sold
--   KEYS[2]  the list of orders: one element (the SKU's key) per sale
-- Returns 1 when sold, 0 when refused (nothing written).
local on_hand = tonumber(redis.call('HGET', KEYS[1], 'on_hand'))
if on_hand == nil then
	return redis.error_reply('unknown sku ' .. KEYS[1])
end
if on_hand < 1 then
	return 0
end
redis.call('HINCRBY', KEYS[1], 'on_hand', -1)
redis.call('HINCRBY', KEYS[1], 'sold', 1)
redis.call('RPUSH', KEYS[2], KEYS[1])
return 1
