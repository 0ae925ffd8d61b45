//! Ring rules on hand-built rings: replica choice, state skipping, quorum arithmetic.

use super::*;
use crate::member::Role;

fn instance(id: &str, tokens: &[u32], state: InstanceState, healthy: bool) -> Member {
    Member {
        id: id.to_string(),
        roles: vec![Role::Ingester],
        http_addr: format!("{id}:3100"),
        grpc_addr: format!("{id}:9095"),
        state,
        tokens: tokens.to_vec(),
        heartbeat: 0,
        registered: 0,
        zone: String::new(),
        healthy,
    }
}

fn ids(set: &ReplicationSet) -> Vec<&str> {
    set.instances.iter().map(|member| member.id.as_str()).collect()
}

/// a owns 100, b 200, c 300, d 400 (each token owns the range below it).
fn four_instances(states: [InstanceState; 4], healthy: [bool; 4]) -> Ring {
    let names = ["a", "b", "c", "d"];
    let mut members = Vec::new();
    for index in 0..4 {
        let token = (index as u32 + 1) * 100;
        members.push(instance(names[index], &[token], states[index], healthy[index]));
    }
    Ring::new(members)
}

const ACTIVE: InstanceState = InstanceState::Active;

#[test]
fn token_for_is_loki_fnv1_over_tenant_then_labels() {
    // Go's hash/fnv golden values for New32 (FNV-1).
    assert_eq!(Ring::token_for("", ""), 0x811c_9dc5);
    assert_eq!(Ring::token_for("a", ""), 0x050c_5d7e);
    assert_eq!(Ring::token_for("a", "b"), 0x7077_2d38);
    assert_eq!(Ring::token_for("ab", "c"), 0x439c_2f4b);
}

#[test]
fn empty_ring_is_an_error() {
    let ring = Ring::new(Vec::new());
    let error = ring.get(1, 3, Operation::Write).unwrap_err();
    assert!(matches!(error, RingError::EmptyRing));
    assert_eq!(error.to_string(), "empty ring");
    // Instances without tokens do not make a usable ring either.
    let ring = Ring::new(vec![instance("a", &[], ACTIVE, true)]);
    assert!(matches!(ring.get(1, 1, Operation::Read), Err(RingError::EmptyRing)));
}

#[test]
fn walks_clockwise_from_the_next_greater_token_and_wraps() {
    let ring = four_instances([ACTIVE; 4], [true; 4]);
    let set = ring.get(150, 3, Operation::Write).unwrap();
    assert_eq!(ids(&set), ["b", "c", "d"]);
    assert_eq!(set.max_errors, 1);
    // A key equal to a token goes to the next one, as dskit's searchToken.
    assert_eq!(ids(&ring.get(200, 1, Operation::Write).unwrap()), ["c"]);
    // Past the last token: wrap to the first.
    assert_eq!(ids(&ring.get(450, 3, Operation::Write).unwrap()), ["a", "b", "c"]);
}

#[test]
fn replicas_are_distinct_instances() {
    let ring =
        Ring::new(vec![instance("a", &[10, 20, 30], ACTIVE, true), instance("b", &[40], ACTIVE, true), instance("c", &[50], ACTIVE, true)]);
    let set = ring.get(5, 3, Operation::Write).unwrap();
    assert_eq!(ids(&set), ["a", "b", "c"]);
}

#[test]
fn writes_skip_leaving_and_joining_and_extend_the_set() {
    let states = [ACTIVE, InstanceState::Leaving, ACTIVE, ACTIVE];
    let ring = four_instances(states, [true; 4]);
    let write = ring.get(150, 3, Operation::Write).unwrap();
    assert_eq!(ids(&write), ["c", "d", "a"]);
    // Quorum over the lengthened set of 4: 3 must succeed.
    assert_eq!(write.max_errors, 0);
    // Reads are served by LEAVING instances.
    let read = ring.get(150, 3, Operation::Read).unwrap();
    assert_eq!(ids(&read), ["b", "c", "d"]);
    assert_eq!(read.max_errors, 1);

    let states = [ACTIVE, InstanceState::Joining, ACTIVE, ACTIVE];
    let ring = four_instances(states, [true; 4]);
    assert_eq!(ids(&ring.get(150, 3, Operation::Write).unwrap()), ["c", "d", "a"]);
    // JOINING does not serve reads either: the read set is extended past it.
    assert_eq!(ids(&ring.get(150, 3, Operation::Read).unwrap()), ["c", "d", "a"]);
    let states = [ACTIVE, InstanceState::Pending, ACTIVE, ACTIVE];
    let ring = four_instances(states, [true; 4]);
    assert_eq!(ids(&ring.get(150, 3, Operation::Write).unwrap()), ["c", "d", "a"]);
}

#[test]
fn unhealthy_instances_count_against_max_errors() {
    let ring = four_instances([ACTIVE; 4], [true, false, true, true]);
    let set = ring.get(150, 3, Operation::Write).unwrap();
    // b keeps its place in the walk (no extension) but is left out of the set.
    assert_eq!(ids(&set), ["c", "d"]);
    assert_eq!(set.max_errors, 0);
    assert_eq!(set.min_success(), 2);
}

#[test]
fn two_of_three_down_is_too_many_unhealthy() {
    let ring =
        Ring::new(vec![instance("a", &[100], ACTIVE, true), instance("b", &[200], ACTIVE, false), instance("c", &[300], ACTIVE, false)]);
    let error = ring.get(50, 3, Operation::Write).unwrap_err();
    match &error {
        RingError::TooManyUnhealthy { required, found, .. } => {
            assert_eq!((*required, *found), (2, 1));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(error.to_string(), "at least 2 live replicas required, could only find 1 - unhealthy instances: b:9095,c:9095");
}

#[test]
fn fewer_instances_than_replication_factor_needs_a_quorum() {
    // One ingester with RF 3: the famous "at least 2 live replicas required".
    let ring = Ring::new(vec![instance("a", &[100], ACTIVE, true)]);
    let error = ring.get(50, 3, Operation::Write).unwrap_err();
    assert!(error.to_string().starts_with("at least 2 live replicas required, could only find 1"));
    // With RF 1 it is fine.
    let set = ring.get(50, 1, Operation::Write).unwrap();
    assert_eq!((ids(&set), set.max_errors), (vec!["a"], 0));
}

#[test]
fn all_healthy_and_replication_set_for_operation() {
    let states = [ACTIVE, InstanceState::Leaving, InstanceState::Joining, ACTIVE];
    let ring = four_instances(states, [true, true, true, false]);
    let readers: Vec<String> = ring.all_healthy(Operation::Read).into_iter().map(|member| member.id).collect();
    assert_eq!(readers, ["a", "b"]);
    // 4 instances, RF 3: 4 - 1 = 3 required, only 2 healthy.
    assert!(matches!(
        ring.replication_set_for_operation(3, Operation::Read),
        Err(RingError::TooManyUnhealthy { required: 3, found: 2, .. })
    ));
    let ring = four_instances([ACTIVE; 4], [true, true, true, false]);
    let set = ring.replication_set_for_operation(3, Operation::Read).unwrap();
    assert_eq!((set.instances.len(), set.max_errors), (3, 0));
}

#[test]
fn ownership_sums_to_one_hundred_percent() {
    let ring = four_instances([ACTIVE; 4], [true; 4]);
    let shares = ring.ownership();
    let total: f64 = shares.iter().sum();
    assert!((total - 100.0).abs() < 1e-9, "total {total}");
    // a (token 100) owns the wrap-around range (400, 2^32) + [0, 100].
    assert!(shares[0] > 99.0, "{shares:?}");
    let single = Ring::new(vec![instance("a", &[7], ACTIVE, true)]);
    assert_eq!(single.ownership(), vec![100.0]);
    assert_eq!(single.len(), 1);
}
