//! A private `redis-server` for one test, bench or example: started as a child on
//! a free loopback port without persistence, killed when dropped; it can be killed
//! and restarted on the same port mid-run.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command that installs the server, named in the failure message.
pub const INSTALL: &str = "apt-get install -y redis-server (Debian/Ubuntu; .ci/run does it)";

/// A `redis-server` child process.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port; panics with the install command when
    /// `redis-server` is missing, so a machine without it fails loudly.
    pub fn start() -> Self {
        // Another process may take the free port before the server binds it: then
        // the server exits, and another port is tried.
        for _ in 0..5 {
            let mut server = Self {
                port: free_port(),
                child: None,
            };
            if server.try_restart() {
                return server;
            }
        }
        panic!("redis-server could not bind a free loopback port in 5 tries");
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (if running) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Holds the server still (SIGSTOP) until [`thaw`](Self::thaw): a Redis
    /// that answers nothing, then runs what it was sent meanwhile, as a loaded
    /// or swapping server does.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`freeze`](Self::freeze)d server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("the server is running")
            .id()
            .to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid} failed");
    }

    /// Starts the server again on the same port (after `kill`), waiting until it
    /// answers PING (at most 10 s).
    pub fn restart(&mut self) {
        assert!(
            self.try_restart(),
            "redis-server could not start again on port {}",
            self.port
        );
    }

    /// Starts the server on its port; false if it exited (the port was taken).
    fn try_restart(&mut self) -> bool {
        self.kill();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                // Replication writes a snapshot file: keep it out of the source tree.
                "--dir",
                &std::env::temp_dir().to_string_lossy(),
                "--dbfilename",
                &format!("warden-redis-test-{}.rdb", self.port),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): these tests need it; install it with {INSTALL}"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exited = !matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)));
            if exited {
                self.child = None;
                return false;
            }
            // Ours answers: it is still running, so it holds the port.
            if self.command("PING").as_deref() == Some("+PONG\r\n") {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            // Real time: a child process is starting up; polled every 10 ms, at most
            // 10 s (asserted above), never used as an assertion.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends one inline command and returns the raw reply (None if unreachable).
    pub fn command(&self, cmd: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
        let mut buf = vec![0; 1 << 16];
        let mut out = Vec::new();
        // Read until the reply looks complete (a short inline reply, or a bulk string).
        loop {
            let n = s.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if is_complete(&out) {
                break;
            }
        }
        String::from_utf8(out).ok()
    }

    /// The number of calls Redis has served for `command` (from `INFO commandstats`).
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.command("INFO commandstats").unwrap_or_default();
        let key = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

fn is_complete(out: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(out) else {
        return false;
    };
    if let Some(rest) = s.strip_prefix('$') {
        let Some((len, body)) = rest.split_once("\r\n") else {
            return false;
        };
        let Ok(len) = len.parse::<usize>() else {
            return true;
        };
        return body.len() >= len + 2;
    }
    s.ends_with("\r\n")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Polls `cond` every 5 ms until it holds or `limit` passes; returns the time it took.
pub async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if cond() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        // Real time: `cond` waits on a real redis-server and the fleet task's round
        // trips to it, which a paused tokio clock cannot advance. Bounded by `limit`.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits `d` of real time: for tests whose subject is a real redis-server's own
/// clock (an interval, a key's time-to-live), which tokio's paused clock cannot
/// advance. Callers bound `d`.
pub async fn real_sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

impl RedisServer {
    /// A bulk-string reply's text (`GET`, `HGET`), `None` for nil or an error.
    pub fn bulk(&self, cmd: &str) -> Option<String> {
        let reply = self.command(cmd)?;
        let rest = reply.strip_prefix('$')?;
        let (len, body) = rest.split_once("\r\n")?;
        let len: usize = len.parse().ok()?;
        body.get(..len).map(str::to_owned)
    }

    /// An integer reply (`EXISTS`, `PTTL`, `ZCARD`); panics on anything else.
    pub fn int(&self, cmd: &str) -> i64 {
        let reply = self.command(cmd).unwrap_or_default();
        reply
            .strip_prefix(':')
            .and_then(|r| r.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("{cmd}: not an integer reply: {reply:?}"))
    }

    /// Every command Redis has served so far (the sum of `INFO commandstats`).
    pub fn total_calls(&self) -> u64 {
        let info = self.command("INFO commandstats").unwrap_or_default();
        info.lines()
            .filter_map(|l| l.split_once(":calls=").map(|(_, r)| r))
            .filter_map(|r| r.split(',').next()?.parse::<u64>().ok())
            .sum()
    }
}
