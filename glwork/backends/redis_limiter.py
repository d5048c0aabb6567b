"""The RateLimiter's shared window in Redis: a sliding-window log decided by one Lua script.

Per limiter name: a sorted set of grants (member = grant id, score = Redis server time), a hash of
their tokens and a running token total. The script prunes grants older than the window, then
admits the request or returns how long to wait, exactly as the in-process limiter does; Redis runs
scripts one at a time, so no two kernels can both take the last slot. Time is the Redis server's
clock (TIME), the one clock every kernel shares. Keys vanish a window after the last grant.
"""
import itertools
import os
import uuid

_ACQUIRE = """
local z, th, total, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local window, maxr, maxt, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local old = redis.call('ZRANGEBYSCORE', z, '-inf', now - window)
if #old > 0 then
  local freed = 0
  for i = 1, #old, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #old) do chunk[#chunk + 1] = old[j] end
    local toks = redis.call('HMGET', th, unpack(chunk))
    for _, v in ipairs(toks) do freed = freed + (tonumber(v) or 0) end
    redis.call('HDEL', th, unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now - window)
  redis.call('DECRBY', total, freed)
end
local n = redis.call('ZCARD', z)
local live = tonumber(redis.call('GET', total) or '0')
local wait, why = 0, ''
if maxr > 0 and n >= maxr then
  local r = redis.call('ZRANGE', z, n - maxr, n - maxr, 'WITHSCORES')
  wait, why = tonumber(r[2]) + window - now, 'requests'
end
if maxt > 0 and live + tokens > maxt then
  local excess, w, last, start = live + tokens - maxt, nil, nil, 0
  while w == nil do
    local batch = redis.call('ZRANGE', z, start, start + 199, 'WITHSCORES')
    if #batch == 0 then break end
    local ids = {}
    for i = 1, #batch, 2 do ids[#ids + 1] = batch[i] end
    local toks = redis.call('HMGET', th, unpack(ids))
    for i = 1, #ids do
      last = tonumber(batch[2 * i])
      excess = excess - (tonumber(toks[i]) or 0)
      if excess <= 0 then w = last + window - now break end
    end
    start = start + 200
  end
  if w == nil then w = (last or now) + window - now end
  if w > wait then wait, why = w, 'tokens' end
end
local ttl = math.ceil(window * 1000) + 1000
if why == '' then
  redis.call('ZADD', z, now, ARGV[5])
  redis.call('HSET', th, ARGV[5], tokens)
  redis.call('INCRBY', total, tokens)
  redis.call('PEXPIRE', z, ttl) redis.call('PEXPIRE', th, ttl) redis.call('PEXPIRE', total, ttl)
  redis.call('HSET', meta, 'max_requests', maxr, 'max_tokens', maxt, 'window', ARGV[1])
  redis.call('HINCRBY', meta, 'grants', 1)
  redis.call('EXPIRE', meta, 86400)
  return {1, tostring(now)}
end
redis.call('HINCRBY', meta, 'waits', 1)
redis.call('EXPIRE', meta, 86400)
return {0, tostring(wait), why}
"""

_SETTLE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('INCRBY', KEYS[3], tonumber(ARGV[2]) - old)
  return 1
end
return 0
"""

_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. tostring(now - window), '+inf')
local tokens = 0
if #live > 0 then
  for i = 1, #live, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #live) do chunk[#chunk + 1] = live[j] end
    for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(chunk))) do tokens = tokens + (tonumber(v) or 0) end
  end
end
return {#live, tokens, tostring(now)}
"""

_counter = itertools.count()


class SharedWindow:
    """The Redis side of one RateLimiter (by name). Raises BackendUnavailable when Redis is away."""

    def __init__(self, backend, name, window, max_requests, max_tokens):
        self.backend, self.name, self.window = backend, name, float(window)
        self.max_requests, self.max_tokens = max_requests or 0, max_tokens or 0
        tag = str(name).replace("{", "(").replace("}", ")")
        base = backend.key("limiter", "{" + tag + "}")   # one hash slot per limiter (Redis Cluster)
        self.keys = [f"{base}:grants", f"{base}:tokens", f"{base}:total", f"{base}:meta"]
        self._acquire = backend.link.script(_ACQUIRE)
        self._settle = backend.link.script(_SETTLE)
        self._peek = backend.link.script(_PEEK)
        self._prefix = f"{os.getpid()}-{uuid.uuid4().hex[:10]}"

    def try_acquire(self, tokens):
        """(grant id, server time) if admitted, else (None, seconds to wait, reason)."""
        member = f"{self._prefix}-{next(_counter)}"
        out = self._acquire(self.keys, [repr(self.window), self.max_requests, self.max_tokens, int(tokens), member])
        if int(out[0]) == 1:
            return member, float(out[1]), None
        return None, max(float(out[1]), 0.0), out[2].decode() if isinstance(out[2], bytes) else out[2]

    def settle(self, member, tokens):
        return bool(self._settle(self.keys[:3], [member, int(tokens)]))

    def peek(self):
        """(requests, tokens) in the current window, class-wide."""
        n, tokens, _ = self._peek(self.keys[:2], [repr(self.window)])
        return int(n), int(tokens)

    def meta(self):
        """The limits last used under this name and how often it admitted / made a caller wait."""
        raw = self.backend.link.run(lambda r: r.hgetall(self.keys[3]), "limiter meta")
        return {k.decode(): float(v) for k, v in raw.items()}


def limiter_names(backend):
    """Names of the limiters with activity in the last day (for the instructor's dashboard)."""
    pattern = backend.key("limiter", "*", "meta")

    def scan(r):
        return sorted({k.decode().split("{", 1)[1].rsplit("}", 1)[0] for k in r.scan_iter(match=pattern, count=500)})
    return backend.link.run(scan, "limiter names")
