-- bench/redis_seed.lua: seed SKUs ARGV[1]..ARGV[2] with ARGV[3] units each,
-- as the hashes redis_lua.lua sells from: stock:<12-digit number>, the key
-- names redis-benchmark -r makes of __rand_int__.
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
	redis.call('HSET', string.format('stock:%012d', i), 'on_hand', ARGV[3], 'sold', 0)
end
return 1
