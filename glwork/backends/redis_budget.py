"""The class budget's counters in Redis: spent and reserved per day and per month, in nano-USD.

Integers, not floats: INCRBY is exact, so a thousand kernels adding fractions of a cent never
drift. A reservation is a "hold" with a deadline: a kernel that dies between reserving and
settling cannot lock the budget forever; its hold is released HOLD_TTL_S later.
The check and the reservation are one Lua script, so two kernels can never both take the last
dollar. Period keys (YYYY-MM-DD, YYYY-MM) come from the caller's local calendar, like the ledger's.
"""
HOLD_TTL_S = 900          # renewed every third of it while the call runs (see ClassBudget)
SETTLED_TTL_S = 3 * 86400  # how long a settled hold id is remembered (re-sent settles count once)
DAY_KEY_TTL_S = 3 * 86400
MONTH_KEY_TTL_S = 70 * 86400

_RESERVE = """
local limits, holds, info = KEYS[1], KEYS[2], KEYS[3]
local prefix = ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for _, id in ipairs(redis.call('ZRANGEBYSCORE', holds, '-inf', now)) do
  local rec = redis.call('HGET', info, id)
  if rec then
    local amount, dk, mk = string.match(rec, '^(%d+) (%S+) (%S+)$')
    redis.call('DECRBY', prefix .. 'reserved:day:' .. dk, amount)
    redis.call('DECRBY', prefix .. 'reserved:month:' .. mk, amount)
    redis.call('HDEL', info, id)
  end
  redis.call('ZREM', holds, id)
end
local amount = tonumber(ARGV[1])
local lim = redis.call('HMGET', limits, 'day', 'month')
local spent = {tonumber(redis.call('GET', KEYS[4]) or '0'), tonumber(redis.call('GET', KEYS[5]) or '0')}
local held = {tonumber(redis.call('GET', KEYS[6]) or '0'), tonumber(redis.call('GET', KEYS[7]) or '0')}
local names = {'day', 'month'}
for i = 1, 2 do
  if lim[i] and spent[i] + held[i] + amount > tonumber(lim[i]) then
    return {0, names[i], lim[i], spent[i], held[i]}
  end
end
redis.call('INCRBY', KEYS[6], ARGV[1]) redis.call('EXPIRE', KEYS[6], ARGV[7])
redis.call('INCRBY', KEYS[7], ARGV[1]) redis.call('EXPIRE', KEYS[7], ARGV[8])
redis.call('ZADD', holds, now + tonumber(ARGV[3]), ARGV[2])
redis.call('HSET', info, ARGV[2], ARGV[1] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5])
return {1, lim[1] or '', lim[2] or ''}
"""

_SETTLE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then
  redis.call('DECRBY', KEYS[5], ARGV[3])
  redis.call('DECRBY', KEYS[6], ARGV[3])
end
-- Once per hold: a settle re-sent after a lost reply, or replayed from the spool, counts once.
if not redis.call('SET', KEYS[7], '1', 'NX', 'EX', ARGV[6]) then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[3], ARGV[2]) redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('INCRBY', KEYS[4], ARGV[2]) redis.call('EXPIRE', KEYS[4], ARGV[5])
end
return 1
"""

# Pushes the deadline of holds still open (a long call), so a live call never loses its reservation.
_RENEW = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
    n = n + 1
  end
end
return n
"""


class RedisBudgetCounters:
    """The counters, amounts in nano-USD (the class budget converts). Raises BackendUnavailable."""

    def __init__(self, backend):
        self.backend = backend
        self.prefix = backend.key("{budget}") + ":"     # one hash slot for every budget key
        self._reserve = backend.link.script(_RESERVE)
        self._settle = backend.link.script(_SETTLE)
        self._renew = backend.link.script(_RENEW)
        self.hold_ttl = HOLD_TTL_S

    def _k(self, *parts):
        return self.prefix + ":".join(parts)

    def reserve(self, amount_nano, hold_id, day, month):
        """(True, limits) or (False, (period, limit, spent, reserved)); nano-USD."""
        keys = [self._k("limits"), self._k("holds"), self._k("holdinfo"), self._k("spent", "day", day),
                self._k("spent", "month", month), self._k("reserved", "day", day), self._k("reserved", "month", month)]
        out = self._reserve(keys, [amount_nano, hold_id, self.hold_ttl, day, month, self.prefix, DAY_KEY_TTL_S,
                                   MONTH_KEY_TTL_S])
        out = [o.decode() if isinstance(o, bytes) else o for o in out]
        if int(out[0]) == 1:
            return True, {"day": _num(out[1]), "month": _num(out[2])}
        return False, (out[1], int(out[2]), int(out[3]), int(out[4]))

    def settle(self, hold_id, cost_nano, amount_nano, day, month):
        """Book `cost_nano` and free the hold; False if this hold was settled before (counted once)."""
        keys = [self._k("holds"), self._k("holdinfo"), self._k("spent", "day", day), self._k("spent", "month", month),
                self._k("reserved", "day", day), self._k("reserved", "month", month), self._k("settled", hold_id)]
        return bool(self._settle(keys, [hold_id, max(int(cost_nano), 0), amount_nano, DAY_KEY_TTL_S,
                                        MONTH_KEY_TTL_S, SETTLED_TTL_S]))

    def renew(self, hold_ids):
        """Push the deadline of these open holds HOLD_TTL_S into the future; how many were open."""
        if not hold_ids:
            return 0
        return int(self._renew([self._k("holds"), self._k("holdinfo")], [self.hold_ttl, *hold_ids]))

    def set_limits(self, limits):
        """limits: {"day"/"month": nano-USD or None (no limit)}."""
        def go(r):
            pipe = r.pipeline()
            for period, value in limits.items():
                if value is None:
                    pipe.hdel(self._k("limits"), period)
                else:
                    pipe.hset(self._k("limits"), period, int(value))
            pipe.execute()
        self.backend.link.run(go, "setting the class budget")

    def status(self, day, month):
        """{period: (limit or None, spent, reserved)} in nano-USD."""
        def go(r):
            pipe = r.pipeline()
            pipe.hmget(self._k("limits"), "day", "month")
            for name in (("spent", "day", day), ("spent", "month", month), ("reserved", "day", day),
                         ("reserved", "month", month)):
                pipe.get(self._k(*name))
            return pipe.execute()
        (lim_d, lim_m), sd, sm, rd, rm = self.backend.link.run(go, "reading the class budget")
        return {"day": (_num(lim_d), int(sd or 0), int(rd or 0)), "month": (_num(lim_m), int(sm or 0), int(rm or 0))}


def _num(v):
    if v in (None, b"", ""):
        return None
    return int(v)
