//! Which ruler evaluates a rule group: Loki's ruler ring, decided from gossip alone.
//!
//! As in Loki, a group's token is FNV-1a 32 of `tenant/namespace/group`, and its owner
//! is the first ruler met walking the ring clockwise from it (replication factor 1).
//! Loki's rulers disagree for a moment whenever the ring changes, and a group may then
//! be evaluated twice or not at all; Skald asks "who owns this group *at the
//! evaluation's timestamp*", which every ruler answers the same from the same gossip:
//! - a ruler counts from `registered + settle` on (its join time, gossiped, plus time
//!   for gossip to reach everyone), so a joining ruler and the one it takes groups from
//!   switch at the same slot, and a ruler that has not yet heard of its peers takes
//!   nothing;
//! - it must be ACTIVE and healthy (heartbeat within the timeout): a dead ruler's
//!   groups move once its heartbeat is older than `heartbeat_timeout`; a ruler that
//!   leaves on purpose is dropped at once (it stops evaluating before it says so).

use crate::member::{InstanceState, Member, Role};
use crate::ring::{Operation, Ring};

/// Loki's `tokenForGroup`: FNV-1a 32 of `tenant/namespace/group`.
pub fn group_token(tenant: &str, namespace: &str, group: &str) -> u32 {
    const OFFSET_BASIS: u32 = 2_166_136_261;
    const PRIME: u32 = 16_777_619;
    let mut hash = OFFSET_BASIS;
    let parts = [tenant.as_bytes(), b"/", namespace.as_bytes(), b"/", group.as_bytes()];
    for byte in parts.into_iter().flatten() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The rulers that own groups at `at_ms`: ruler role, ACTIVE, healthy, registered at
/// least `settle_ms` before.
pub fn ruler_ring(members: &[Member], at_ms: i64, settle_ms: i64) -> Ring {
    let mut rulers = Vec::new();
    for member in members {
        let settled = member.registered.saturating_add(settle_ms) <= at_ms;
        if member.has_role(Role::Ruler) && member.state == InstanceState::Active && member.healthy && settled {
            rulers.push(member.clone());
        }
    }
    Ring::new(rulers)
}

/// The id of the ruler that evaluates the group with `token` on `ring`, if any.
pub fn group_owner(ring: &Ring, token: u32) -> Option<String> {
    let set = ring.get(token, 1, Operation::Write).ok()?;
    set.instances.first().map(|member| member.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruler(id: &str, tokens: &[u32], registered: i64, healthy: bool) -> Member {
        Member {
            id: id.to_string(),
            roles: vec![Role::Ruler],
            http_addr: String::new(),
            grpc_addr: String::new(),
            state: InstanceState::Active,
            tokens: tokens.to_vec(),
            heartbeat: 0,
            registered,
            zone: String::new(),
            healthy,
        }
    }

    #[test]
    fn group_tokens_are_loki_fnv1a_with_slashes() {
        // Golden values of Go's fnv.New32a over the joined strings.
        assert_eq!(group_token("user-1", "ns", "group"), 0x9212_ff66);
        assert_eq!(group_token("", "", ""), 0xa2d2_66e3);
        assert_eq!(group_token("a", "b", "c"), 0x477d_fb6b);
    }

    #[test]
    fn the_first_settled_healthy_ruler_clockwise_owns_a_group() {
        let members = vec![ruler("a", &[100], 0, true), ruler("b", &[200], 1_000, true)];
        // Before b has settled, a owns everything.
        let early = ruler_ring(&members, 1_500, 1_000);
        assert_eq!(group_owner(&early, 150).as_deref(), Some("a"));
        // From registered + settle on, b owns (100, 200].
        let later = ruler_ring(&members, 2_000, 1_000);
        assert_eq!(group_owner(&later, 150).as_deref(), Some("b"));
        assert_eq!(group_owner(&later, 250).as_deref(), Some("a"));
        // A dead ruler's groups go to the next one.
        let dead_b = vec![ruler("a", &[100], 0, true), ruler("b", &[200], 1_000, false)];
        assert_eq!(group_owner(&ruler_ring(&dead_b, 5_000, 1_000), 150).as_deref(), Some("a"));
        // Nobody settled: nobody evaluates.
        assert_eq!(group_owner(&ruler_ring(&members, 500, 1_000), 150), None);
        // Other roles and non-ACTIVE rulers own nothing.
        let mut leaving = ruler("c", &[120], 0, true);
        leaving.state = InstanceState::Leaving;
        let mut ingester = ruler("d", &[130], 0, true);
        ingester.roles = vec![Role::Ingester];
        let mixed = vec![ruler("a", &[100], 0, true), leaving, ingester];
        assert_eq!(group_owner(&ruler_ring(&mixed, 5_000, 1_000), 110).as_deref(), Some("a"));
    }
}
