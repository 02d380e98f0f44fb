//! The one Lua script every instance runs, and what it returns.
//!
//! All fleet state of a breaker lives in three keys sharing a cluster hash tag:
//! `<ns>:{<name>}:state` (hash: `g` generation, `s` 0 closed / 1 open / 2 half-open,
//! `d` open deadline, `e` closed-interval expiry, `k` half-open successes, `i`
//! incarnation, `f` settings fingerprint), `…:counts` (hash: `g` the closed
//! generation they belong to, `r ts tf te cs cf`) and `…:probes` (sorted set of
//! probe tokens scored by their expiry). Two keys per namespace tell idle
//! instances what changed: `<ns>:version` (a counter bumped on every fleet
//! transition) and `<ns>:changes` (sorted set: breaker name scored by the version of
//! its last transition, the newest 1024 kept); a third, `<ns>:epoch`, set once to
//! a unique value by whichever instance finds it missing, tells instances that
//! Redis lost the log (a flush, a restart from empty) even when other
//! instances' transitions took the new counter past the value they last read.
//! On one Redis server the script
//! writes the change log itself, atomically with the transition. On a Redis
//! Cluster the log lives in another slot than the breaker's keys, which a script
//! cannot touch: the script is given the breaker's three keys only, says that it
//! made a transition, and the instance announces it with [`ANNOUNCE_LUA`] on the
//! log's own slot (`<ns>:{%log}:version`, `<ns>:{%log}:changes`, and the epoch
//! `<ns>:{%log}:epoch`) in the same
//! round. Times are the Redis server's clock in
//! milliseconds (`TIME`), so instances' clocks never have to agree; instances get
//! back *remaining* durations.
//!
//! Transitions mirror the local breaker: open → half-open at the first millisecond
//! after the deadline (lazily, by whichever script runs first), a closed
//! generation's counts reset when its interval expires, half-open closes after
//! `max_requests` probe successes and re-opens on the first probe failure. Every
//! transition bumps the generation.
//!
//! Faults the script guards against:
//! * **Data loss** (flush, restart from empty, failover to a replica that missed
//!   writes): the state carries an incarnation, a random id drawn when the state is
//!   created. Every call names the incarnation the instance last saw and what it
//!   holds (an open decision with its remaining time, or half-open); when the
//!   incarnation differs, the state was lost and what the instance knows is
//!   republished: an open decision is never cut short.
//! * **Stale reports** (fencing): a probe's outcome counts only if the script
//!   removes its token from the probe set, whatever the generation numbers.
//! * **A Redis clock that steps back**: the remaining open time is capped at the
//!   breaker's timeout.
//! * **Mismatched settings**: the state records the fingerprint of the settings
//!   that matter; a call with another fingerprint changes nothing and is told so.

/// Operation codes (ARGV[1]).
pub(crate) const OP_SYNC: i64 = 1;
pub(crate) const OP_CLAIM: i64 = 2;
pub(crate) const OP_REPORT: i64 = 3;

/// Outcome codes of [`OP_REPORT`].
pub(crate) const REPORT_SUCCESS: i64 = 1;
pub(crate) const REPORT_FAILURE: i64 = 2;
pub(crate) const REPORT_RELEASE: i64 = 3;

/// The state a script returns when the settings fingerprint does not match.
pub(crate) const MISMATCH: i64 = 3;

/// KEYS: state, counts, probes, then (one Redis server) version, changes; on a
/// Redis Cluster only the first three (the transition is announced apart).
/// ARGV: op, timeout_ms, interval_ms, key_ttl_ms, max_requests, fingerprint,
/// known incarnation (0: none), held (0 nothing, 1 open, 2 half-open), held open
/// ms, fresh incarnation, name, then per op:
/// * sync: dr ds df de last_cs last_cf trip expect_gen (trip 1 opens a closed fleet
///   whose generation is expect_gen, or any closed generation when expect_gen is 0);
/// * claim: gen member_prefix count probe_ttl_ms (grants up to count tokens);
/// * report: gen member outcome.
///
/// Returns {s, g, remaining_ms, r, ts, tf, te, cs, cf, granted, incarnation,
/// restored, changed}.
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
local fp = ARGV[6]
local known = tonumber(ARGV[7])
local held = tonumber(ARGV[8])
local hold = tonumber(ARGV[9])
local st = redis.call('HMGET', KEYS[1], 'g', 's', 'd', 'e', 'k', 'i', 'f')
local g, s, inc = tonumber(st[1]), tonumber(st[2]), tonumber(st[6])
local d, e, k = tonumber(st[3]) or 0, tonumber(st[4]) or 0, tonumber(st[5]) or 0
local changed = false
if not g or not s or not inc or s < 0 or s > 2 then
  g, s, d, e, k, inc = 1, 0, 0, 0, 0, tonumber(ARGV[10])
  if interval > 0 then e = now + interval end
  redis.call('DEL', KEYS[2], KEYS[3])
elseif st[7] ~= fp then
  return {3, g, 0, 0, 0, 0, 0, 0, 0, 0, inc, 0, 0}
end
local restored = 0
if known ~= 0 and known ~= inc then
  -- The state this instance last saw is gone: republish what it knows.
  if held == 1 and hold > 0 then
    if hold > timeout then hold = timeout end
    if s ~= 1 then
      g, s, d, k = g + 1, 1, now + hold, 0
      redis.call('DEL', KEYS[2], KEYS[3])
      changed, restored = true, 1
    elseif d < now + hold then
      d, restored = now + hold, 1
    end
  elseif held == 2 and s == 0 then
    g, s, k = g + 1, 2, 0
    redis.call('DEL', KEYS[2], KEYS[3])
    changed, restored = true, 1
  end
end
-- A deadline further away than the timeout (the server's clock stepped back, or a
-- failover to a server whose clock is behind) is capped.
if s == 1 and d > now + timeout then d = now + timeout end
local function open()
  g, s, d, k = g + 1, 1, now + timeout, 0
  changed = true
  redis.call('DEL', KEYS[2], KEYS[3])
end
local function close()
  g, s, d, k, e = g + 1, 0, 0, 0, 0
  if interval > 0 then e = now + interval end
  changed = true
  redis.call('DEL', KEYS[2], KEYS[3])
end
if s == 1 and now > d then
  g, s, k = g + 1, 2, 0
  changed = true
  redis.call('DEL', KEYS[3])
end
if s == 0 and e > 0 and now > e then
  g, e = g + 1, now + interval
end
local granted = 0
local r, ts, tf, te, cs, cf = 0, 0, 0, 0, 0, 0
if op == 1 and s == 0 then
  local c = redis.call('HMGET', KEYS[2], 'g', 'r', 'ts', 'tf', 'te', 'cs', 'cf')
  if tonumber(c[1]) == g then
    r, ts, tf, te = tonumber(c[2]) or 0, tonumber(c[3]) or 0, tonumber(c[4]) or 0, tonumber(c[5]) or 0
    cs, cf = tonumber(c[6]) or 0, tonumber(c[7]) or 0
  end
  local dr, ds, df, de = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
  local lcs, lcf = tonumber(ARGV[16]), tonumber(ARGV[17])
  r, ts, tf, te = r + dr, ts + ds, tf + df, te + de
  if df > 0 and ds > 0 then
    if lcf > 0 then cs, cf = 0, lcf else cs, cf = lcs, 0 end
  elseif df > 0 then
    cs, cf = 0, cf + df
  elseif ds > 0 then
    cs, cf = cs + ds, 0
  end
  local expect = tonumber(ARGV[19])
  if tonumber(ARGV[18]) == 1 and (expect == 0 or expect == g) then
    open()
    r, ts, tf, te, cs, cf = 0, 0, 0, 0, 0, 0
  elseif dr + ds + df + de > 0 then
    redis.call('HSET', KEYS[2], 'g', g, 'r', r, 'ts', ts, 'tf', tf, 'te', te, 'cs', cs, 'cf', cf)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
elseif op == 2 and s == 2 and g == tonumber(ARGV[12]) then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local free = maxr - redis.call('ZCARD', KEYS[3])
  local want = tonumber(ARGV[14])
  if want < free then free = want end
  local life = tonumber(ARGV[15])
  for j = 1, free do
    redis.call('ZADD', KEYS[3], now + life, ARGV[13] .. '.' .. j)
  end
  if free > 0 then
    granted = free
    redis.call('PEXPIRE', KEYS[3], math.max(ttl, life))
  end
elseif op == 3 then
  -- Fencing: only a token this call removes may count.
  local removed = redis.call('ZREM', KEYS[3], ARGV[13])
  if removed == 1 and s == 2 and g == tonumber(ARGV[12]) then
    local outcome = tonumber(ARGV[14])
    if outcome == 1 then
      k = k + 1
      if k >= maxr then close() end
    elseif outcome == 2 then
      open()
    end
  end
end
redis.call('HSET', KEYS[1], 'g', g, 's', s, 'd', d, 'e', e, 'k', k, 'i', inc, 'f', fp)
-- An open decision outlives its deadline by the key's time-to-live.
local life = ttl
if s == 1 then life = d - now + ttl end
redis.call('PEXPIRE', KEYS[1], life)
if changed and #KEYS >= 5 then
  local v = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[5], v, ARGV[11])
  redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -1025)
end
local remaining = 0
if s == 1 then remaining = d - now end
if s ~= 0 then r, ts, tf, te, cs, cf = 0, 0, 0, 0, 0, 0 end
local c = 0
if changed then c = 1 end
return {s, g, remaining, r, ts, tf, te, cs, cf, granted, inc, restored, c}
"#;

/// On a Redis Cluster: announces transitions in the fleet's change log. KEYS:
/// version, changes (one slot); ARGV: the names of the breakers that changed.
/// Bumps the version once and scores every name with it; returns the version.
pub(crate) const ANNOUNCE_LUA: &str = r#"
local v = redis.call('INCR', KEYS[1])
for i = 1, #ARGV do
  redis.call('ZADD', KEYS[2], v, ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1025)
return v
"#;

/// The fleet state a script returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// 0 closed, 1 open, 2 half-open, [`MISMATCH`] (nothing changed).
    pub(crate) state: i64,
    pub(crate) generation: u64,
    /// Open: milliseconds until the fleet may turn half-open.
    pub(crate) remaining_ms: u64,
    /// Closed, after a sync: the fleet's counts of this generation.
    pub(crate) counts: [u64; 6],
    /// Claim: how many probe tokens were granted.
    pub(crate) granted: u32,
    /// The incarnation of the state (changes when Redis lost it).
    pub(crate) incarnation: u64,
    /// This call republished what the instance knew after a data loss.
    pub(crate) restored: bool,
    /// This call made a transition (to be announced, on a Redis Cluster).
    pub(crate) changed: bool,
}

impl Reply {
    /// Parses the script's array; `None` if Redis returned something else.
    pub(crate) fn parse(v: &[i64]) -> Option<Self> {
        if v.len() != 13 || !(0..=MISMATCH).contains(&v[0]) {
            return None;
        }
        let u = |x: i64| u64::try_from(x).unwrap_or(0);
        Some(Self {
            state: v[0],
            generation: u(v[1]),
            remaining_ms: u(v[2]),
            counts: [u(v[3]), u(v[4]), u(v[5]), u(v[6]), u(v[7]), u(v[8])],
            granted: u32::try_from(v[9]).unwrap_or(0),
            incarnation: u(v[10]),
            restored: v[11] == 1,
            changed: v[12] == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_reply() {
        let r = Reply::parse(&[1, 7, 250, 0, 0, 0, 0, 0, 0, 0, 9, 1, 1]).unwrap();
        assert_eq!((r.state, r.generation, r.remaining_ms), (1, 7, 250));
        assert_eq!((r.granted, r.incarnation, r.restored), (0, 9, true));
        assert!(r.changed);
        let r = Reply::parse(&[0, 3, 0, 10, 4, 6, 0, 0, 6, 2, 9, 0, 0]).unwrap();
        assert!(!r.changed);
        assert_eq!(r.counts, [10, 4, 6, 0, 0, 6]);
        assert_eq!(r.granted, 2);
        assert_eq!(
            Reply::parse(&[3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0])
                .unwrap()
                .state,
            MISMATCH
        );
        assert!(Reply::parse(&[4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]).is_none());
        assert!(Reply::parse(&[0, 1]).is_none());
        // A negative remaining time (a clock oddity) reads as "due now".
        assert_eq!(
            Reply::parse(&[1, 2, -5, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0])
                .unwrap()
                .remaining_ms,
            0
        );
    }
}
