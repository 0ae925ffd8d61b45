//! Zone-aware replication (dskit's `zone_awareness_enabled`): a stream's replicas are
//! placed in distinct zones, so losing a whole zone loses at most one replica of each
//! stream, and reads go on as long as at most `replication_factor / 2` zones are down.
//!
//! The walk is dskit's `findInstancesForKey` with zones: clockwise from the key, an
//! instance is taken only if its zone has no replica yet (one per zone: dskit's target
//! of `max(1, RF / RF)`); an instance in a state that cannot serve the operation is
//! taken too but does not count for its zone, and lengthens the walk, so the next
//! instance of the same zone takes its place. The walk stops once every zone has its
//! replica or has had all its instances examined.

use crate::error::RingError;
use crate::member::Member;
use crate::ring::{Operation, ReplicationSet, RingToken};

/// Zone index of each instance, and the number of instances per zone.
fn zones_of(instances: &[Member]) -> (Vec<usize>, Vec<usize>) {
    let mut names: Vec<&str> = instances.iter().map(|member| member.zone.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut per_zone = vec![0; names.len()];
    let mut index = Vec::with_capacity(instances.len());
    for member in instances {
        let zone = names.binary_search(&member.zone.as_str()).unwrap_or(0);
        per_zone[zone] += 1;
        index.push(zone);
    }
    (index, per_zone)
}

/// Indexes of the instances holding `token`'s replicas.
pub(crate) fn walk(instances: &[Member], tokens: &[RingToken], token: u32, replication_factor: usize, op: Operation) -> Vec<usize> {
    let (zone_of, total_per_zone) = zones_of(instances);
    let mut found = vec![0usize; total_per_zone.len()];
    let mut examined = vec![0usize; total_per_zone.len()];
    let token_count = tokens.len();
    let mut wanted = replication_factor;
    let mut chosen: Vec<usize> = Vec::with_capacity(wanted + 2);
    let mut position = tokens.partition_point(|entry| entry.token <= token);
    let mut steps = 0;
    while chosen.len() < wanted.min(instances.len()) && steps < token_count {
        let done = (0..total_per_zone.len()).all(|zone| found[zone] >= 1 || examined[zone] >= total_per_zone[zone]);
        if done {
            break;
        }
        steps += 1;
        let entry = tokens[position % token_count];
        position += 1;
        if chosen.contains(&entry.instance) {
            continue;
        }
        let zone = zone_of[entry.instance];
        if found[zone] >= 1 {
            continue;
        }
        examined[zone] += 1;
        chosen.push(entry.instance);
        if op.extends_replica_set(instances[entry.instance].state) {
            wanted += 1;
        } else {
            found[zone] += 1;
        }
    }
    chosen
}

/// Whom a querier asks: every healthy instance that serves `op`, failing when more than
/// `replication_factor / 2` zones have an instance down. One more failure is tolerated
/// while fewer zones than that are down.
pub(crate) fn replication_set_for_operation(
    instances: &[Member],
    replication_factor: usize,
    op: Operation,
) -> Result<ReplicationSet, RingError> {
    let (zone_of, per_zone) = zones_of(instances);
    let mut zone_down = vec![false; per_zone.len()];
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for (index, member) in instances.iter().enumerate() {
        if member.healthy && op.serves(member.state) {
            healthy.push(member.clone());
        } else {
            zone_down[zone_of[index]] = true;
            unhealthy.push(member.grpc_addr.clone());
        }
    }
    let zones_down = zone_down.iter().filter(|down| **down).count();
    let tolerated = replication_factor / 2;
    if zones_down > tolerated || healthy.is_empty() {
        let required = healthy.len() + unhealthy.len() - tolerated.min(unhealthy.len());
        return Err(RingError::TooManyUnhealthy { required, found: healthy.len(), unhealthy });
    }
    let max_errors = usize::from(zones_down < tolerated && healthy.len() > 1);
    Ok(ReplicationSet { instances: healthy, max_errors })
}

#[cfg(test)]
mod tests {
    use crate::member::{InstanceState, Member, Role};
    use crate::ring::{Operation, Ring};

    fn ingester(id: &str, zone: &str, tokens: &[u32], healthy: bool) -> Member {
        Member {
            id: id.to_string(),
            roles: vec![Role::Ingester],
            http_addr: String::new(),
            grpc_addr: format!("{id}:9095"),
            state: InstanceState::Active,
            tokens: tokens.to_vec(),
            heartbeat: 0,
            registered: 0,
            zone: zone.to_string(),
            healthy,
        }
    }

    /// Two ingesters per zone, their tokens interleaved so a plain walk would pick two of
    /// one zone: a1 100, a2 200, b1 300, b2 400, c1 500, c2 600.
    fn six() -> Vec<Member> {
        vec![
            ingester("a1", "a", &[100], true),
            ingester("a2", "a", &[200], true),
            ingester("b1", "b", &[300], true),
            ingester("b2", "b", &[400], true),
            ingester("c1", "c", &[500], true),
            ingester("c2", "c", &[600], true),
        ]
    }

    fn zones(set: &crate::ring::ReplicationSet) -> Vec<String> {
        let mut zones: Vec<String> = set.instances.iter().map(|m| m.zone.clone()).collect();
        zones.sort();
        zones
    }

    #[test]
    fn replicas_go_to_distinct_zones() {
        let plain = Ring::new(six());
        let set = plain.get(50, 3, Operation::Write).unwrap();
        assert_eq!(zones(&set), ["a", "a", "b"], "without zone awareness: the next three");
        let aware = Ring::new(six()).with_zone_awareness(true);
        for key in [50, 150, 250, 350, 450, 550, 650] {
            let set = aware.get(key, 3, Operation::Write).unwrap();
            assert_eq!(zones(&set), ["a", "b", "c"], "key {key}");
            assert_eq!(set.max_errors, 1);
        }
    }

    #[test]
    fn a_joining_instance_is_replaced_by_another_of_its_zone() {
        let mut members = six();
        members[0].state = InstanceState::Joining;
        let aware = Ring::new(members).with_zone_awareness(true);
        let set = aware.get(50, 3, Operation::Write).unwrap();
        let ids: Vec<&str> = set.instances.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a2", "b1", "c1"], "a1 is joining: a2 holds zone a's replica");
    }

    #[test]
    fn a_whole_zone_down_leaves_writes_and_reads_working_two_do_not() {
        let mut members = six();
        members[2].healthy = false;
        members[3].healthy = false;
        let aware = Ring::new(members.clone()).with_zone_awareness(true);
        for key in [50, 250, 450] {
            let set = aware.get(key, 3, Operation::Write).unwrap();
            assert_eq!((set.instances.len(), set.max_errors), (2, 0), "zone b down, key {key}");
        }
        let read = aware.replication_set_for_operation(3, Operation::Read).unwrap();
        assert_eq!((read.instances.len(), read.max_errors), (4, 0));
        // Without zone awareness, two ingesters down of six is too many for reads.
        assert!(Ring::new(members.clone()).replication_set_for_operation(3, Operation::Read).is_err());
        members[4].healthy = false;
        let two_zones = Ring::new(members).with_zone_awareness(true);
        assert!(two_zones.replication_set_for_operation(3, Operation::Read).is_err());
        assert!(two_zones.get(50, 3, Operation::Write).is_err());
    }
}
