//! Membership over real gossip: nodes on loopback UDP find each other through one
//! seed, see each other's roles, addresses, states and tokens, notice a crashed node,
//! forget it, and drop a node that leaves.

mod common;

use std::time::{Duration, Instant};

use common::{find, sees_healthy, start, start_ingester, wait_until};
use skald_ring::{Cluster, InstanceState, Operation, Ring, RingError, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_join_through_one_seed_and_see_each_other() {
    let seed = start("seed", &[Role::Distributor, Role::Querier], &[]).await;
    let ingester = start("ing-1", &[Role::Ingester], &[&seed]).await;
    let frontend = start("fe-1", &[Role::QueryFrontend], &[&seed]).await;
    let all = ["fe-1", "ing-1", "seed"];
    for node in [&seed, &ingester, &frontend] {
        wait_until(&format!("{} sees all three nodes", node.id()), || sees_healthy(node, &all)).await;
    }

    // What the frontend learnt about the others, through gossip only.
    let seen_seed = find(&frontend, "seed").unwrap();
    assert_eq!(seen_seed.roles, vec![Role::Distributor, Role::Querier]);
    assert_eq!(seen_seed.http_addr, "seed.test:3100");
    assert_eq!(seen_seed.grpc_addr, "seed.test:9095");
    assert_eq!(seen_seed.state, InstanceState::Active);
    assert!(seen_seed.tokens.is_empty());
    let seen_ingester = find(&frontend, "ing-1").unwrap();
    assert_eq!(seen_ingester.state, InstanceState::Joining);
    assert_eq!(seen_ingester.tokens.len(), 128);
    let own = find(&ingester, "ing-1").unwrap();
    assert_eq!(seen_ingester.tokens, own.tokens);
    assert_eq!(frontend.members_with_role(Role::Ingester).len(), 1);
    assert_eq!(frontend.members_with_role(Role::Querier)[0].id, "seed");

    // The ring holds only ingesters; JOINING takes no writes.
    let ring = seed.ingester_ring();
    assert_eq!(ring.len(), 1);
    assert!(matches!(ring.get(42, 1, Operation::Write), Err(RingError::TooManyUnhealthy { .. })));

    // A state change propagates, and subscribers hear of it.
    let mut changes = seed.subscribe();
    changes.borrow_and_update();
    ingester.set_state(InstanceState::Active);
    wait_until("the seed sees ing-1 ACTIVE", || find(&seed, "ing-1").map(|member| member.state) == Some(InstanceState::Active)).await;
    assert!(changes.has_changed().unwrap(), "no change notification");
    let set = seed.ingester_ring().get(42, 1, Operation::Write).unwrap();
    assert_eq!(set.instances[0].id, "ing-1");
    assert_eq!(set.instances[0].grpc_addr, "ing-1.test:9095");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_states_travel_by_gossip() {
    let a = start_ingester("ring-a", &[]).await;
    let b = start_ingester("ring-b", &[&a]).await;
    let c = start_ingester("ring-c", &[&a]).await;
    let observer = start("ring-d", &[Role::Distributor], &[&b]).await;
    let all = ["ring-a", "ring-b", "ring-c", "ring-d"];
    wait_until("the distributor sees three ACTIVE ingesters", || {
        sees_healthy(&observer, &all)
            && observer.members_with_role(Role::Ingester).iter().all(|member| member.state == InstanceState::Active)
    })
    .await;

    let token = Ring::token_for("tenant", "{app=\"x\"}");
    let set = observer.ingester_ring().get(token, 3, Operation::Write).unwrap();
    let mut ids: Vec<&str> = set.instances.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["ring-a", "ring-b", "ring-c"]);
    assert_eq!(set.max_errors, 1);

    // ring-b leaves the write path but keeps serving reads.
    b.set_state(InstanceState::Leaving);
    wait_until("the distributor sees ring-b LEAVING", || find(&observer, "ring-b").map(|m| m.state) == Some(InstanceState::Leaving)).await;
    let ring = observer.ingester_ring();
    let write = ring.get(token, 3, Operation::Write).unwrap();
    assert!(write.instances.iter().all(|m| m.id != "ring-b"));
    assert_eq!((write.instances.len(), write.max_errors), (2, 0));
    let read = ring.get(token, 3, Operation::Read).unwrap();
    assert!(read.instances.iter().any(|m| m.id == "ring-b"));
    assert_eq!(read.instances.len(), 3);
    let readers = ring.all_healthy(Operation::Read);
    assert_eq!(readers.len(), 3);
    assert_eq!(ring.all_healthy(Operation::Write).len(), 2);
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_node_goes_unhealthy_and_forget_propagates() {
    let a = start_ingester("crash-a", &[]).await;
    let b = start_ingester("crash-b", &[&a]).await;
    let c = start_ingester("crash-c", &[&a]).await;
    let all = ["crash-a", "crash-b", "crash-c"];
    for node in [&a, &b, &c] {
        wait_until("all three healthy", || sees_healthy(node, &all)).await;
    }

    let stopped_at = Instant::now();
    drop(c);
    for node in [&a, &b] {
        wait_until("crash-c is listed but unhealthy", || find(node, "crash-c").is_some_and(|member| !member.healthy)).await;
    }
    println!("crash noticed after {:?}", stopped_at.elapsed());
    // Still in the ring, counted against the quorum.
    let ring = a.ingester_ring();
    assert_eq!(ring.len(), 3);
    let set = ring.get(7, 3, Operation::Write).unwrap();
    assert_eq!((set.instances.len(), set.max_errors), (2, 0));

    // Forgotten on b, gone on a too.
    b.forget("crash-c");
    assert!(find(&b, "crash-c").is_none());
    wait_until("crash-a no longer lists crash-c", || find(&a, "crash-c").is_none()).await;
    assert_eq!(a.ingester_ring().len(), 2);
    // Forgetting oneself or a stranger does nothing.
    a.forget("crash-a");
    a.forget("nobody");
    assert!(find(&a, "crash-a").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_down_is_too_many_unhealthy() {
    let a = start_ingester("down-a", &[]).await;
    let b = start_ingester("down-b", &[&a]).await;
    let c = start_ingester("down-c", &[&a]).await;
    wait_until("all three healthy", || sees_healthy(&a, &["down-a", "down-b", "down-c"])).await;
    drop(b);
    drop(c);
    wait_until("down-b and down-c unhealthy", || {
        let members = a.members();
        members.len() == 3 && members.iter().filter(|member| !member.healthy).count() == 2
    })
    .await;
    let error = a.ingester_ring().get(1, 3, Operation::Write).unwrap_err();
    assert!(error.to_string().starts_with("at least 2 live replicas required, could only find 1"), "{error}");
    assert!(error.to_string().contains("down-b.test:9095"), "{error}");
    a.forget("down-b");
    a.forget("down-c");
    assert_eq!(a.members().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_node_is_dropped_before_any_timeout() {
    let mut slow = common::config("leave-a", &[]);
    // Failure detection and heartbeat timeout alone would take far longer than the
    // deadline below: the node must be dropped because it said so.
    slow.heartbeat_timeout = Duration::from_secs(60);
    let a = Cluster::join(slow, common::local_member("leave-a", &[Role::Ingester])).await.unwrap();
    let b = start_ingester("leave-b", &[&a]).await;
    wait_until("both see each other", || sees_healthy(&a, &["leave-a", "leave-b"]) && sees_healthy(&b, &["leave-a", "leave-b"])).await;
    let left_at = Instant::now();
    b.leave().await;
    assert_eq!(b.state(), InstanceState::Leaving);
    wait_until("leave-a dropped leave-b", || find(&a, "leave-b").is_none()).await;
    println!("leave noticed after {:?}", left_at.elapsed());
    assert!(left_at.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_spread_evenly_and_survive_restart_with_tokens_file() {
    let dir = tempfile::tempdir().unwrap();
    let tokens_path = dir.path().join("tokens");
    let a = start_ingester("spread-a", &[]).await;
    let b = start_ingester("spread-b", &[&a]).await;
    let mut c_member = common::local_member("spread-c", &[Role::Ingester]);
    c_member.tokens_file = Some(tokens_path.clone());
    let c = Cluster::join(common::config("spread-c", &[&a]), c_member.clone()).await.unwrap();
    wait_until("three ingesters with 128 tokens each", || {
        let ring = a.ingester_ring();
        ring.len() == 3 && ring.instances().iter().all(|m| m.tokens.len() == 128)
    })
    .await;
    let ring = a.ingester_ring();
    let shares = ring.ownership();
    println!("ownership: {shares:?}");
    for share in &shares {
        assert!((20.0..=47.0).contains(share), "ownership {shares:?}");
    }
    let original = find(&a, "spread-c").unwrap().tokens;

    // Restart spread-c: a new generation with the same tokens.
    c.leave().await;
    drop(c);
    wait_until("spread-c gone", || find(&a, "spread-c").is_none()).await;
    let restarted = Cluster::join(common::config("spread-c", &[&b]), c_member).await.unwrap();
    wait_until("spread-c back", || find(&a, "spread-c").is_some()).await;
    assert_eq!(find(&a, "spread-c").unwrap().tokens, original);
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_another_cluster_stay_apart() {
    let a = start("apart-a", &[Role::Querier], &[]).await;
    let mut other = common::config("apart-b", &[&a]);
    other.cluster_id = "someone-else".to_string();
    let b = Cluster::join(other, common::local_member("apart-b", &[Role::Querier])).await.unwrap();
    // Give gossip many rounds to (wrongly) merge.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(a.members().len(), 1);
    assert_eq!(b.members().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_refused_with_its_name() {
    let mut config = common::config("bad", &[]);
    config.join_members = vec!["seed:notaport".to_string()];
    let error = Cluster::join(config, common::local_member("bad", &[Role::Querier])).await.err().expect("bad join member refused");
    assert!(error.to_string().contains("memberlist.join_members"), "{error}");

    let a = start("busy", &[Role::Querier], &[]).await;
    let mut taken = common::config("busy-2", &[]);
    taken.gossip_listen = a.gossip_advertise();
    let error = Cluster::join(taken, common::local_member("busy-2", &[Role::Querier])).await.err().expect("port in use refused");
    assert!(matches!(error, RingError::Bind { .. }), "{error}");
}

#[test]
fn futures_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync + Clone + 'static>() {}
    assert_sync::<Cluster>();
    let join = Cluster::join(common::config("x", &[]), common::local_member("x", &[]));
    assert_send(&join);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cluster = runtime.block_on(join).unwrap();
    let leave = cluster.leave();
    assert_send(&leave);
    runtime.block_on(leave);
}
