//! `ingester.autoforget_unhealthy`: which ingesters to forget, Loki's rule
//! (`pkg/ingester/ingester.go` `setupAutoForget`): those whose heartbeat is older than
//! the heartbeat timeout, unless that is every other ingester (more likely this node is
//! cut off from the rest, so nothing is forgotten; a ring of two never forgets).

use crate::member::{Member, Role};

/// The ids of the ingesters `self_id` should forget at `now_ms`.
pub fn stale_ingesters(members: &[Member], self_id: &str, now_ms: i64, timeout_ms: i64) -> Vec<String> {
    let ingesters: Vec<&Member> = members.iter().filter(|member| member.has_role(Role::Ingester)).collect();
    let stale: Vec<String> = ingesters
        .iter()
        .filter(|member| member.id != self_id && now_ms.saturating_sub(member.heartbeat) > timeout_ms)
        .map(|member| member.id.clone())
        .collect();
    if stale.len() + 1 >= ingesters.len() {
        return Vec::new();
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::InstanceState;

    fn ingester(id: &str, heartbeat: i64) -> Member {
        Member {
            id: id.to_string(),
            roles: vec![Role::Ingester],
            http_addr: String::new(),
            grpc_addr: String::new(),
            state: InstanceState::Active,
            tokens: vec![1],
            heartbeat,
            registered: 0,
            zone: String::new(),
            healthy: true,
        }
    }

    #[test]
    fn ingesters_silent_past_the_timeout_are_forgotten_unless_all_others_are() {
        let members = vec![ingester("me", 10_000), ingester("fresh", 9_500), ingester("dead", 1_000)];
        assert_eq!(stale_ingesters(&members, "me", 10_000, 5_000), ["dead"]);
        // Exactly at the timeout: still remembered.
        assert!(stale_ingesters(&members, "me", 6_000, 5_000).is_empty());
        // Every other ingester silent: this node is probably the one cut off.
        let alone = vec![ingester("me", 10_000), ingester("a", 1_000), ingester("b", 1_000)];
        assert!(stale_ingesters(&alone, "me", 10_000, 5_000).is_empty());
        let two = vec![ingester("me", 10_000), ingester("dead", 1_000)];
        assert!(stale_ingesters(&two, "me", 10_000, 5_000).is_empty());
        // Other roles are not the ingester ring's business.
        let mut querier = ingester("querier", 1_000);
        querier.roles = vec![Role::Querier];
        let mixed = vec![ingester("me", 10_000), ingester("fresh", 9_500), querier];
        assert!(stale_ingesters(&mixed, "me", 10_000, 5_000).is_empty());
    }
}
