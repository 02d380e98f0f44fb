//! The one Lua script every instance runs, and what it returns.
//!
//! All fleet state of a breaker lives in three keys sharing a cluster hash tag:
//! `<ns>:{<name>}:state` (hash: `g` generation, `s` 0 closed / 1 open / 2 half-open,
//! `d` open deadline, `e` closed-interval expiry, `k` half-open successes),
//! `…:counts` (hash: `g` the closed generation they belong to, `r ts tf te cs cf`)
//! and `…:probes` (sorted set of probe tokens scored by their expiry). Times are
//! the Redis server's clock in milliseconds (`TIME`), so instances' clocks never
//! have to agree; instances get back *remaining* durations.
//!
//! Transitions mirror the local breaker: open → half-open at the first millisecond
//! after the deadline (lazily, by whichever script runs first), a closed
//! generation's counts reset when its interval expires, half-open closes after
//! `max_requests` probe successes and re-opens on the first probe failure. Every
//! transition bumps the generation; reports for an older generation are ignored.

/// Operation codes (ARGV[1]).
pub(crate) const OP_SYNC: i64 = 1;
pub(crate) const OP_CLAIM: i64 = 2;
pub(crate) const OP_REPORT: i64 = 3;

/// Outcome codes of [`OP_REPORT`].
pub(crate) const REPORT_SUCCESS: i64 = 1;
pub(crate) const REPORT_FAILURE: i64 = 2;
pub(crate) const REPORT_RELEASE: i64 = 3;

/// KEYS: state, counts, probes.
/// ARGV: op, timeout_ms, interval_ms, key_ttl_ms, max_requests, then per op:
/// * sync: dr ds df de last_cs last_cf trip expect_gen (trip 1 opens a closed fleet
///   whose generation is expect_gen, or any closed generation when expect_gen is 0);
/// * claim: gen member probe_ttl_ms;
/// * report: gen member outcome.
///
/// Returns {s, g, remaining_ms, r, ts, tf, te, cs, cf, granted}.
pub(crate) const LUA: &str = r#"
-- Before Redis 5 scripts replicate verbatim unless told otherwise, and writes after
-- TIME would be refused; from Redis 5 on this is the default (and a no-op).
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = tonumber(ARGV[1])
local timeout = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local maxr = tonumber(ARGV[5])
local st = redis.call('HMGET', KEYS[1], 'g', 's', 'd', 'e', 'k')
local g, s, d, e, k = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4]), tonumber(st[5])
if not g then
  g, s, d, e, k = 1, 0, 0, 0, 0
  if interval > 0 then e = now + interval end
end
local function open()
  g, s, d, k = g + 1, 1, now + timeout, 0
  redis.call('DEL', KEYS[2], KEYS[3])
end
local function close()
  g, s, d, k, e = g + 1, 0, 0, 0, 0
  if interval > 0 then e = now + interval end
  redis.call('DEL', KEYS[2], KEYS[3])
end
if s == 1 and now > d then
  g, s, k = g + 1, 2, 0
  redis.call('DEL', KEYS[3])
end
if s == 0 and e > 0 and now > e then
  g, e = g + 1, now + interval
end
local granted = 0
if op == 1 and s == 0 then
  local c = redis.call('HMGET', KEYS[2], 'g', 'r', 'ts', 'tf', 'te', 'cs', 'cf')
  local r, ts, tf, te, cs, cf = 0, 0, 0, 0, 0, 0
  if tonumber(c[1]) == g then
    r, ts, tf, te, cs, cf = tonumber(c[2]), tonumber(c[3]), tonumber(c[4]), tonumber(c[5]), tonumber(c[6]), tonumber(c[7])
  end
  local dr, ds, df, de = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local lcs, lcf = tonumber(ARGV[10]), tonumber(ARGV[11])
  r, ts, tf, te = r + dr, ts + ds, tf + df, te + de
  if df > 0 and ds > 0 then
    if lcf > 0 then cs, cf = 0, lcf else cs, cf = lcs, 0 end
  elseif df > 0 then
    cs, cf = 0, cf + df
  elseif ds > 0 then
    cs, cf = cs + ds, 0
  end
  local expect = tonumber(ARGV[13])
  if tonumber(ARGV[12]) == 1 and (expect == 0 or expect == g) then
    open()
  elseif dr + ds + df + de > 0 then
    redis.call('HSET', KEYS[2], 'g', g, 'r', r, 'ts', ts, 'tf', tf, 'te', te, 'cs', cs, 'cf', cf)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  if s == 0 then
    redis.call('HSET', KEYS[1], 'g', g, 's', s, 'd', d, 'e', e, 'k', k)
    redis.call('PEXPIRE', KEYS[1], ttl)
    return {s, g, 0, r, ts, tf, te, cs, cf, 0}
  end
elseif op == 2 and s == 2 and g == tonumber(ARGV[6]) then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) < maxr then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[8]), ARGV[7])
    redis.call('PEXPIRE', KEYS[3], ttl)
    granted = 1
  end
elseif op == 3 and s == 2 and g == tonumber(ARGV[6]) then
  redis.call('ZREM', KEYS[3], ARGV[7])
  local outcome = tonumber(ARGV[8])
  if outcome == 1 then
    k = k + 1
    if k >= maxr then close() end
  elseif outcome == 2 then
    open()
  end
end
redis.call('HSET', KEYS[1], 'g', g, 's', s, 'd', d, 'e', e, 'k', k)
redis.call('PEXPIRE', KEYS[1], ttl)
local remaining = 0
if s == 1 then remaining = d - now end
return {s, g, remaining, 0, 0, 0, 0, 0, 0, granted}
"#;

/// The fleet state a script returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// 0 closed, 1 open, 2 half-open.
    pub(crate) state: i64,
    pub(crate) generation: u64,
    /// Open: milliseconds until the fleet may turn half-open.
    pub(crate) remaining_ms: u64,
    /// Closed, after a sync: the fleet's counts of this generation.
    pub(crate) counts: [u64; 6],
    /// Claim: whether a probe token was granted.
    pub(crate) granted: bool,
}

impl Reply {
    /// Parses the script's array; `None` if Redis returned something else.
    pub(crate) fn parse(v: &[i64]) -> Option<Self> {
        if v.len() != 10 || !(0..=2).contains(&v[0]) {
            return None;
        }
        let u = |x: i64| u64::try_from(x).unwrap_or(0);
        Some(Self {
            state: v[0],
            generation: u(v[1]),
            remaining_ms: u(v[2]),
            counts: [u(v[3]), u(v[4]), u(v[5]), u(v[6]), u(v[7]), u(v[8])],
            granted: v[9] == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_reply() {
        let r = Reply::parse(&[1, 7, 250, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((r.state, r.generation, r.remaining_ms), (1, 7, 250));
        assert!(!r.granted);
        let r = Reply::parse(&[0, 3, 0, 10, 4, 6, 0, 0, 6, 0]).unwrap();
        assert_eq!(r.counts, [10, 4, 6, 0, 0, 6]);
        assert!(Reply::parse(&[3, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(Reply::parse(&[0, 1]).is_none());
        // A negative remaining time (a clock oddity) reads as "due now".
        assert_eq!(
            Reply::parse(&[1, 2, -5, 0, 0, 0, 0, 0, 0, 1])
                .unwrap()
                .remaining_ms,
            0
        );
    }
}
