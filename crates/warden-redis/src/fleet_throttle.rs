//! Fleet-wide counts for breakers with an
//! [`AdaptiveThrottle`](warden_breaker::AdaptiveThrottle): every slice, each
//! instance publishes its own window (requests and accepts, see
//! [`CircuitBreaker::throttle_window`](warden_breaker::CircuitBreaker::throttle_window))
//! and reads back the sum of the other instances' windows, which its breaker adds
//! to every evaluation
//! ([`set_throttle_peers`](warden_breaker::CircuitBreaker::set_throttle_peers)).
//! Every instance then evaluates the rule on the fleet's window, give or take a
//! slice, and sheds the same share of its calls, whether its own calls fail more
//! or less than the others'.
//!
//! One hash per breaker (`{namespace}:{tag}:throttle`, in the breaker's slot),
//! one field per instance: `"requests accepts written_ms"`, stamped with the
//! server's time. A field not rewritten for [`STALE_SLICES`] slices (an instance
//! gone, or cut off from Redis) no longer counts and is deleted by the next
//! reader; the hash expires with the fleet's other keys. One script call per
//! throttled breaker per slice, in one pipeline after the slice's round trip;
//! breakers without a throttle cost nothing here. When Redis is away, an
//! instance forgets the others' counts and sheds on its own window.

use super::*;

/// Slices after which an instance's published window no longer counts.
pub(crate) const STALE_SLICES: u32 = 10;

/// Publishes `ARGV[2]` (requests) and `ARGV[3]` (accepts) as instance `ARGV[1]`'s
/// window, and returns the sums of the other instances' windows written within
/// `ARGV[4]` ms (older ones are deleted); `ARGV[5]`: the key's time to live in ms.
const SHARE_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
local requests, accepts = 0, 0
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local r, a, at = string.match(all[i + 1], '^(%d+) (%d+) (%d+)$')
    if r and now - tonumber(at) <= tonumber(ARGV[4]) then
      requests = requests + tonumber(r)
      accepts = accepts + tonumber(a)
    else
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
return {requests, accepts}
"#;

/// The slice's exchange of throttle windows for the throttled breakers of `list`
/// (none: no command). A breaker whose keys or settings have a problem of their
/// own is left out; a reply that is not two counts leaves its breaker's peers as
/// they were.
pub(super) async fn share(inner: &Inner, c: &mut Conn, list: &[Arc<Shared>]) -> Result<(), Fault> {
    let ns = &inner.config.namespace;
    let stale = inner.config.slice.saturating_mul(STALE_SLICES);
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut shared = Vec::new();
    let mut cmds = Vec::new();
    for s in list {
        // Relaxed: the task's own flag (see `Shared::issue`).
        if s.issue.load(Ordering::Relaxed) != 0 {
            continue;
        }
        let Some((requests, accepts)) = s.breaker.throttle_window() else {
            continue;
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SHARE_LUA)
            .arg(1)
            .arg(format!("{ns}:{{{}}}:throttle", s.tag))
            .arg(inner.instance)
            .arg(requests)
            .arg(accepts)
            .arg(ms(stale))
            .arg(ms(inner.config.key_ttl));
        cmds.push(cmd);
        shared.push(s);
    }
    if cmds.is_empty() {
        return Ok(());
    }
    let refs: Vec<&Cmd> = cmds.iter().collect();
    let mut values = Vec::with_capacity(refs.len());
    for chunk in refs.chunks(PIPELINE_MAX) {
        values.extend(send(inner, c, chunk).await?);
    }
    for (s, v) in shared.into_iter().zip(values) {
        if let Ok((requests, accepts)) = redis::from_redis_value::<(u64, u64)>(v) {
            // Under the track lock, which `detach` and a stop take (after marking
            // the breaker or the fleet) to forget the peers: a breaker that nothing
            // refreshes any more never keeps a late reply's counts.
            let _t = lock(&s.track);
            if !s.detached() && !inner.stopped() {
                s.breaker.set_throttle_peers(requests, accepts);
            }
        }
    }
    Ok(())
}
