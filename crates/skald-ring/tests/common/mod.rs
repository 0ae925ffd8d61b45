//! Helpers for the gossip tests: real chitchat over UDP on loopback, ephemeral ports,
//! short intervals, and polling with a deadline instead of fixed sleeps.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use skald_ring::{Cluster, ClusterConfig, InstanceState, LocalMember, Member, Role};

/// Generous: the machine is shared, gossip rounds can be late.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn config(name: &str, seeds: &[&Cluster]) -> ClusterConfig {
    let mut config = ClusterConfig::for_local_test(name);
    config.gossip_interval = Duration::from_millis(100);
    config.heartbeat_period = Duration::from_millis(200);
    config.heartbeat_timeout = Duration::from_secs(2);
    config.join_members = seeds.iter().map(|seed| seed.gossip_advertise().to_string()).collect();
    config
}

pub fn local_member(name: &str, roles: &[Role]) -> LocalMember {
    LocalMember::new(roles.to_vec(), &format!("{name}.test:3100"), &format!("{name}.test:9095"))
}

pub async fn start(name: &str, roles: &[Role], seeds: &[&Cluster]) -> Cluster {
    Cluster::join(config(name, seeds), local_member(name, roles)).await.expect("join")
}

/// An ACTIVE ingester.
pub async fn start_ingester(name: &str, seeds: &[&Cluster]) -> Cluster {
    let cluster = start(name, &[Role::Ingester], seeds).await;
    cluster.set_state(InstanceState::Active);
    cluster
}

/// Polls `check` every 20ms until it holds; panics naming `what` at the deadline.
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > DEADLINE {
            panic!("timed out after {DEADLINE:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn find(cluster: &Cluster, id: &str) -> Option<Member> {
    cluster.members().into_iter().find(|member| member.id == id)
}

/// True when `observer` lists exactly `ids`, all healthy.
pub fn sees_healthy(observer: &Cluster, ids: &[&str]) -> bool {
    let members = observer.members();
    let mut seen: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
    seen.sort_unstable();
    let mut wanted = ids.to_vec();
    wanted.sort_unstable();
    seen == wanted && members.iter().all(|member| member.healthy)
}
