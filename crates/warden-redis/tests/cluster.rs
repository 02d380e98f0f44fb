//! Fleets on a real Redis Cluster: 3 masters and 3 replicas, started by the test
//! on free loopback ports (each node in a temporary directory of its own), joined
//! with `redis-cli --cluster create`, and killed when the test ends, even when it
//! fails (`Cluster`'s `Drop`).
//!
//! Waits are bounded polls (`support::wait_for`); the cluster itself is polled
//! with real time (it is a set of child processes).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{INSTALL, free_port, wait_for};
use warden_breaker::{CircuitBreaker, Error, State};
use warden_redis::{Coordination, Fleet, FleetBreaker, FleetConfig};

const SLICE: Duration = Duration::from_millis(50);
/// The bound on "an instance sees a fleet decision" (documented: 2 slices plus a
/// round trip, and on a cluster one more round trip; about 110 ms here), with a
/// wide margin for a loaded machine.
const BOUND: Duration = Duration::from_secs(3);
/// The bound on a failover (promotion, the clients learning the new topology).
const FAILOVER: Duration = Duration::from_secs(20);
/// Names whose keys spread over the cluster's slots, including the empty name
/// and names with braces (their hash tags are escaped).
const NAMES: [&str; 8] = ["", "a{b}c", "}{", "{", "db", "payments", "%7B", "n7"];

/// One `redis-server --cluster-enabled yes` child in a directory of its own.
struct Node {
    port: u16,
    child: Option<Child>,
}

impl Node {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The cluster: its nodes and their directory, removed on drop.
struct Cluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends one inline command to `port`; the raw reply (empty if unreachable).
fn command(port: u16, cmd: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(format!("{cmd}\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let mut buf = vec![0; 1 << 16];
    // Read until the reply stops coming (bulk replies here are short: one read
    // after the first usually finishes it; the timeout ends the rest).
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        let done = match text.strip_prefix('$') {
            Some(rest) => rest.split_once("\r\n").is_some_and(|(len, body)| {
                len.parse::<usize>().is_ok_and(|len| body.len() >= len + 2)
            }),
            None => text.ends_with("\r\n"),
        };
        if done {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Cluster {
    /// Starts 3 masters and 3 replicas and waits until every node reports
    /// `cluster_state:ok` (at most 30 s).
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "warden-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..6 {
            let port = free_port();
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("node directory");
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    // A dead master is noticed after 1 s, not the default 15 s.
                    "--cluster-node-timeout",
                    "1000",
                    "--appendonly",
                    "no",
                    "--save",
                    "",
                    "--dir",
                    &node_dir.to_string_lossy(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run redis-server ({e}): these tests need it; install it with {INSTALL}")
                });
            cluster.nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for n in &cluster.nodes {
            while command(n.port, "PING") != "+PONG\r\n" {
                assert!(
                    Instant::now() < deadline,
                    "cluster node {} did not answer PING",
                    n.port
                );
                // Real time: a child process starting; bounded by the deadline.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}); install it with {INSTALL}"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster.wait_ok(Duration::from_secs(30));
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok` and sees 3
    /// masters serving all slots.
    fn wait_ok(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let info = command(n.port, "CLUSTER INFO");
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster is not ok after {limit:?}"
            );
            // Real time: the nodes gossip; bounded by the deadline.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// A running node's port.
    fn any_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.child.is_some())
            .map(|n| n.port)
            .expect("a running node")
    }

    /// The (master port, replica ports) serving `key`'s slot as a running node
    /// sees it; `None` while no healthy master serves it.
    fn owners(&self, key: &str) -> Option<(u16, Vec<u16>)> {
        let port = self.any_port();
        let slot: u16 = command(port, &format!("CLUSTER KEYSLOT {key}"))
            .trim()
            .trim_start_matches(':')
            .parse()
            .expect("a slot");
        // `CLUSTER NODES` lines: id addr flags master-id ... slot ranges.
        let nodes = command(port, "CLUSTER NODES");
        let lines: Vec<Vec<&str>> = nodes
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f.len() >= 8)
            .collect();
        let port_of = |f: &[&str]| -> u16 {
            f[1].split(['@', ':'])
                .nth(1)
                .and_then(|p| p.parse().ok())
                .expect("a port")
        };
        let master = lines
            .iter()
            .find(|f| {
                f[2].contains("master")
                    && !f[2].contains("fail")
                    && f[8..].iter().any(|r| {
                        let (a, b) = r.split_once('-').unwrap_or((r, r));
                        matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a <= slot && slot <= b)
                    })
            })?;
        let replicas = lines
            .iter()
            .filter(|f| f[3] == master[0] && !f[2].contains("fail"))
            .map(|f| port_of(f))
            .collect();
        Some((port_of(master), replicas))
    }

    /// [`owners`](Self::owners) once the master has a replica whose link to it
    /// is up, waiting at most `limit`: right after the cluster is created or a
    /// failover, the node asked may not list the replica yet (gossip), and a
    /// failover needs a replica in sync.
    fn owners_with_replica(&self, key: &str, limit: Duration) -> (u16, Vec<u16>) {
        let deadline = Instant::now() + limit;
        loop {
            let owners = self.owners(key);
            let link = owners
                .as_ref()
                .and_then(|(_, r)| r.first())
                .map(|&r| command(r, "INFO replication"));
            if let (Some(owners), Some(link)) = (&owners, &link)
                && link.contains("master_link_status:up")
            {
                return owners.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no replica in sync for {key} after {limit:?}: owners {owners:?}, replica's view {link:?}"
            );
            // Real time: the nodes gossip and replicate; bounded by the deadline.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn node_mut(&mut self, port: u16) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of the cluster")
    }
}

struct Instance {
    fleet: Fleet,
    breakers: Vec<FleetBreaker>,
}

fn instance(cluster: &Cluster) -> Instance {
    let fleet = Fleet::start(
        FleetConfig::cluster(cluster.urls())
            .slice(SLICE)
            .redis_timeout(Duration::from_secs(1))
            .reconnect_max(Duration::from_millis(200)),
    )
    .unwrap();
    let breakers = NAMES
        .iter()
        .map(|n| {
            fleet
                .attach(Arc::new(
                    CircuitBreaker::builder(n)
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap(),
                ))
                .unwrap()
        })
        .collect();
    Instance { fleet, breakers }
}

fn coordinated(i: &Instance) -> bool {
    i.fleet.coordination() == Coordination::Fleet
        && i.breakers
            .iter()
            .all(|b| b.coordination() == Coordination::Fleet && b.fleet_state().is_some())
}

fn fleet_open(i: &Instance, at: usize) -> bool {
    i.breakers[at].fleet_state().map(|v| v.state) == Some(State::Open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_fleet_shares_decisions_and_keeps_them_across_failovers() {
    let mut cluster = Cluster::start();
    let a = instance(&cluster);
    let b = instance(&cluster);
    wait_for(
        BOUND * 3,
        "both instances to join the cluster fleet",
        || coordinated(&a) && coordinated(&b),
    )
    .await;

    // Every breaker's keys share a slot (a script over several slots would be
    // refused with CROSSSLOT, and the breaker would report a bad key): each name
    // trips on `a` and the idle `b` learns it through the change log.
    for (at, name) in NAMES.iter().enumerate() {
        for _ in 0..6 {
            let _ = a.breakers[at].call(|| Err::<(), _>("down"));
        }
        assert_eq!(a.breakers[at].state(), State::Open, "{name:?}");
        let took = wait_for(BOUND, "the open to reach the idle instance", || {
            fleet_open(&b, at) && b.breakers[at].state() == State::Open
        })
        .await;
        eprintln!("cluster: {name:?} opened on the other instance in {took:?}");
    }
    assert_eq!(a.fleet.stats().bad_keys + b.fleet.stats().bad_keys, 0);

    // A manual failover of the master serving "a{b}c" while the fleet is open.
    let key = "warden:{a%7Bb%7Dc}:state";
    let (master, replicas) = cluster.owners_with_replica(key, FAILOVER);
    let replica = replicas[0];
    assert!(command(replica, "CLUSTER FAILOVER").starts_with("+OK"));
    let deadline = Instant::now() + FAILOVER;
    while cluster.owners(key).map(|o| o.0) != Some(replica) {
        assert!(Instant::now() < deadline, "no failover within {FAILOVER:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.wait_ok(FAILOVER);
    eprintln!("cluster: {master} failed over to {replica}");
    // The decision is still open, on the instances and in Redis: a fresh instance
    // learns it from the new master.
    let c = instance(&cluster);
    wait_for(
        FAILOVER,
        "a fresh instance to see every breaker open",
        || coordinated(&c) && (0..NAMES.len()).all(|at| fleet_open(&c, at)),
    )
    .await;
    for i in [&a, &b, &c] {
        for cb in &i.breakers {
            assert!(matches!(
                cb.call(|| Ok::<_, ()>(())),
                Err(Error::Rejected(warden_breaker::Rejected::Open))
            ));
        }
    }
    drop(c);

    // Now the master dies (SIGKILL) and its replica is promoted by the cluster.
    let (master, replicas) = cluster.owners_with_replica(key, FAILOVER);
    cluster.node_mut(master).kill();
    let deadline = Instant::now() + FAILOVER;
    while cluster.owners(key).is_none_or(|o| o.0 == master) {
        assert!(
            Instant::now() < deadline,
            "no promotion within {FAILOVER:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.wait_ok(FAILOVER);
    eprintln!("cluster: {master} killed, {replicas:?} promoted");
    for i in [&a, &b] {
        for cb in &i.breakers {
            assert_eq!(cb.state(), State::Open, "an open decision was cut short");
        }
    }
    let d = instance(&cluster);
    wait_for(FAILOVER, "the fleets to coordinate again, all open", || {
        [&a, &b, &d]
            .iter()
            .all(|i| coordinated(i) && (0..NAMES.len()).all(|at| fleet_open(i, at)))
    })
    .await;

    drop(d);

    // The promoted master loses its data (as a replica that missed writes would
    // have): the instances that held the decisions republish them.
    let (master, _) = cluster.owners(key).expect("a healthy cluster");
    assert!(command(master, "FLUSHALL").starts_with("+OK"));
    assert_eq!(command(master, &format!("EXISTS {key}")), ":0\r\n");
    let e = instance(&cluster);
    wait_for(
        FAILOVER,
        "the decisions republished and seen by a fresh instance",
        || coordinated(&e) && (0..NAMES.len()).all(|at| fleet_open(&e, at)),
    )
    .await;
    assert!(a.fleet.stats().restores + b.fleet.stats().restores >= 1);
    assert_eq!(command(master, &format!("EXISTS {key}")), ":1\r\n");
    a.fleet.shutdown().await;
    b.fleet.shutdown().await;
    e.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_fleet_closes_together_after_probes() {
    let cluster = Cluster::start();
    let fleet = |timeout: Duration| {
        let f = Fleet::start(
            FleetConfig::cluster([cluster.urls()[0].clone()])
                .slice(SLICE)
                .redis_timeout(Duration::from_secs(1)),
        )
        .unwrap();
        let cb = f
            .attach(Arc::new(
                CircuitBreaker::builder("search")
                    .timeout(timeout)
                    .max_requests(2)
                    .build()
                    .unwrap(),
            ))
            .unwrap();
        (f, cb)
    };
    let (fa, a) = fleet(Duration::from_millis(300));
    let (fb, b) = fleet(Duration::from_millis(300));
    wait_for(BOUND * 3, "both to coordinate", || {
        a.fleet_state().is_some() && b.fleet_state().is_some()
    })
    .await;
    for _ in 0..6 {
        let _ = a.call(|| Err::<(), _>("down"));
    }
    wait_for(BOUND, "the open to reach b", || b.state() == State::Open).await;
    // Half-open fleet-wide after the timeout; two successes (one per instance)
    // close the fleet for both.
    wait_for(BOUND * 2, "half-open on both", || {
        [&a, &b]
            .iter()
            .all(|i| i.fleet_state().map(|v| v.state) == Some(State::HalfOpen))
    })
    .await;
    wait_for(BOUND * 2, "the fleet to close after two probes", || {
        for i in [&a, &b] {
            let _ = i.call(|| Ok::<_, ()>(()));
        }
        [&a, &b].iter().all(|i| {
            i.fleet_state().map(|v| v.state) == Some(State::Closed) && i.state() == State::Closed
        })
    })
    .await;
    fa.shutdown().await;
    fb.shutdown().await;
}
