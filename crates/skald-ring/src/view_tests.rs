//! Building members from gossip keys: health, departures, forget notes, restarts.

use super::*;

const TIMEOUT: Duration = Duration::from_secs(2);
const NOW: i64 = 1_000_000;

fn local(heartbeat_ms: i64) -> LocalState {
    LocalState {
        roles: vec![Role::Ingester],
        http_addr: "me:3100".to_string(),
        grpc_addr: "me:9095".to_string(),
        state: InstanceState::Active,
        tokens: vec![1, 2],
        heartbeat_ms,
        registered_ms: 5,
        zone: String::new(),
        left: false,
        forgets: BTreeMap::new(),
    }
}

fn self_record() -> NodeRecord {
    let state = local(NOW);
    NodeRecord {
        member: Member {
            id: "me".to_string(),
            roles: state.roles,
            http_addr: state.http_addr,
            grpc_addr: state.grpc_addr,
            state: state.state,
            tokens: state.tokens,
            heartbeat: NOW,
            registered: 5,
            zone: String::new(),
            healthy: true,
        },
        generation: 1,
        gossip_addr: "127.0.0.1:1".parse().unwrap(),
        registered_ms: 5,
        live: true,
        is_self: true,
    }
}

/// A peer publishing what `LocalState` would, with the given heartbeat.
fn peer(id: &str, generation: u64, heartbeat_ms: i64, live: bool) -> GossipNode {
    let mut keys = HashMap::new();
    for pair in local(heartbeat_ms).key_values() {
        keys.insert(pair.key, pair.value);
    }
    GossipNode { node_id: id.to_string(), generation, gossip_addr: "127.0.0.1:2".parse().unwrap(), keys, live }
}

fn build(nodes: Vec<GossipNode>) -> View {
    build_view(self_record(), &BTreeMap::new(), nodes, NOW, TIMEOUT)
}

fn member<'a>(view: &'a View, id: &str) -> Option<&'a Member> {
    view.records.iter().map(|record| &record.member).find(|member| member.id == id)
}

#[test]
fn healthy_needs_liveness_and_a_fresh_heartbeat() {
    let view = build(vec![peer("fresh", 1, NOW - 1_000, true), peer("stale", 1, NOW - 3_000, true), peer("dead", 1, NOW, false)]);
    assert!(member(&view, "fresh").unwrap().healthy);
    assert!(!member(&view, "stale").unwrap().healthy);
    assert!(!member(&view, "dead").unwrap().healthy);
    assert_eq!(member(&view, "fresh").unwrap().tokens, vec![1, 2]);
    let ids: Vec<&str> = view.records.iter().map(|r| r.member.id.as_str()).collect();
    assert_eq!(ids, ["dead", "fresh", "me", "stale"]);
}

#[test]
fn partial_and_departed_nodes_are_not_listed() {
    let mut partial = peer("partial", 1, NOW, true);
    partial.keys.remove(KEY_STATE);
    let mut departed = peer("departed", 1, NOW, true);
    departed.keys.insert(KEY_LEFT.to_string(), "1".to_string());
    let mut garbled = peer("garbled", 1, NOW, true);
    garbled.keys.insert(KEY_STATE.to_string(), "SLEEPING".to_string());
    let view = build(vec![partial, departed, garbled]);
    assert_eq!(view.records.len(), 1);
}

#[test]
fn newest_generation_wins() {
    let mut old = peer("node", 1, NOW - 10_000, false);
    old.keys.insert(KEY_TOKENS.to_string(), "7".to_string());
    let new = peer("node", 2, NOW, true);
    let view = build(vec![new, old]);
    let node = member(&view, "node").unwrap();
    assert!(node.healthy);
    assert_eq!(node.tokens, vec![1, 2]);
}

#[test]
fn forget_note_hides_until_the_node_heartbeats_again() {
    let mut forgetter = peer("forgetter", 1, NOW, true);
    forgetter.keys.insert(format!("{FORGET_PREFIX}gone"), format!("3:{}", NOW - 5_000));
    // Same generation, no newer heartbeat: hidden.
    let view = build(vec![forgetter.clone(), peer("gone", 3, NOW - 5_000, false)]);
    assert!(member(&view, "gone").is_none());
    // It heartbeated since (it was alive after all): listed again, as in Loki.
    let view = build(vec![forgetter.clone(), peer("gone", 3, NOW - 1_000, true)]);
    assert!(member(&view, "gone").is_some());
    // A restart (newer generation) is a new member.
    let view = build(vec![forgetter, peer("gone", 4, NOW - 9_000, true)]);
    assert!(member(&view, "gone").is_some());
}

#[test]
fn local_forget_notes_apply_and_fingerprint_ignores_heartbeats() {
    let mut forgets = BTreeMap::new();
    forgets.insert("x".to_string(), (format!("1:{NOW}"), Instant::now()));
    let view = build_view(self_record(), &forgets, vec![peer("x", 1, NOW, true)], NOW, TIMEOUT);
    assert_eq!(view.records.len(), 1);

    let first = build(vec![peer("y", 1, NOW - 100, true)]);
    let later = build(vec![peer("y", 1, NOW - 50, true)]);
    assert_eq!(first.fingerprint, later.fingerprint);
    let unhealthy = build(vec![peer("y", 1, NOW - 50, false)]);
    assert_ne!(first.fingerprint, unhealthy.fingerprint);
}

#[test]
fn local_state_publishes_expiring_forget_notes() {
    let mut state = local(NOW);
    state.left = true;
    state.forgets.insert("old".to_string(), ("1:2".to_string(), Instant::now()));
    let pairs = state.key_values();
    assert!(pairs.iter().any(|pair| pair.key == KEY_LEFT));
    let note = pairs.iter().find(|pair| pair.key == "forget:old").unwrap();
    assert!(note.expires && note.value == "1:2");
    state.prune_forgets(Duration::ZERO);
    assert!(state.forgets.is_empty());
}
