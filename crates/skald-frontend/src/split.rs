//! Splitting a range query into parts by `split_queries_by_interval`.
//!
//! Part boundaries fall on multiples of the interval since the epoch (as in Loki), so
//! the same hour of two different queries becomes the same part and can be served from
//! the results cache.
//!
//! - Metric queries are evaluated at the steps `start + k * step`, each step on its own
//!   (a window `(t - range, t]`), so a part is a run of consecutive steps that fall in
//!   one interval; its `start` and `end` are its first and last step. Every step of the
//!   query belongs to exactly one part and the union of the parts' answers is the
//!   unsplit answer.
//! - Log queries select `start <= ts < end`; the parts cut that range at the interval
//!   boundaries, so every timestamp belongs to exactly one part.
//!
//! Pure arithmetic, in `i128` so that no input overflows.

/// Above this many parts, the interval of a log query is widened (a metric query has at
/// most 11,001 steps, so at most that many parts).
pub const MAX_PARTS: usize = 5000;

/// One part: for a metric query the first and last step (both included), for a log
/// query `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRange {
    pub start: i64,
    pub end: i64,
}

/// The first multiple of `interval` after `t`.
fn next_boundary(t: i128, interval: i128) -> i128 {
    (t.div_euclid(interval) + 1) * interval
}

/// Parts of a metric range query, in time order. `step > 0`; `interval <= 0` means one
/// part.
pub fn split_metric(start: i64, end: i64, step: i64, interval: i64) -> Vec<PartRange> {
    if interval <= 0 || step <= 0 || end <= start {
        return vec![PartRange { start, end }];
    }
    let (start_w, step_w, interval_w) = (i128::from(start), i128::from(step), i128::from(interval));
    let last_index = (i128::from(end) - start_w) / step_w;
    let mut parts = Vec::new();
    let mut index: i128 = 0;
    while index <= last_index {
        let first = start_w + index * step_w;
        let boundary = next_boundary(first, interval_w);
        // Steps in [first, boundary): ceil((boundary - first) / step) of them.
        let steps_in_bucket = (boundary - first + step_w - 1) / step_w;
        let last = (index + steps_in_bucket - 1).min(last_index);
        parts.push(PartRange { start: to_i64(first), end: to_i64(start_w + last * step_w) });
        index = last + 1;
    }
    parts
}

/// Parts of a log query, in time order. `interval <= 0` means one part.
pub fn split_logs(start: i64, end: i64, interval: i64) -> Vec<PartRange> {
    if interval <= 0 || end <= start {
        return vec![PartRange { start, end }];
    }
    let (start_w, end_w) = (i128::from(start), i128::from(end));
    let mut interval_w = i128::from(interval);
    // Widen the interval (by whole multiples, so boundaries stay aligned) until the
    // number of parts is bounded.
    let max_parts = MAX_PARTS as i128;
    while (end_w - start_w) / interval_w + 2 > max_parts {
        interval_w *= 2;
    }
    let mut parts = Vec::new();
    let mut from = start_w;
    while from < end_w {
        let to = next_boundary(from, interval_w).min(end_w);
        parts.push(PartRange { start: to_i64(from), end: to_i64(to) });
        from = to;
    }
    parts
}

/// Every value passed here lies between two `i64` inputs.
fn to_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;
    const H: i64 = 3600 * S;

    #[test]
    fn metric_parts_follow_hours_and_steps() {
        // 00:30 to 03:10 every 20 minutes, split by hour.
        let start = 1_717_200_000 * S + 30 * 60 * S;
        let parts = split_metric(start, start + 160 * 60 * S, 20 * 60 * S, H);
        let minutes: Vec<(i64, i64)> = parts.iter().map(|p| ((p.start - start) / 60 / S, (p.end - start) / 60 / S)).collect();
        assert_eq!(minutes, vec![(0, 20), (40, 80), (100, 140), (160, 160)]);
    }

    #[test]
    fn log_parts_cut_at_boundaries() {
        let start = 10 * H + 5;
        let parts = split_logs(start, 12 * H + 7, H);
        assert_eq!(
            parts,
            vec![PartRange { start, end: 11 * H }, PartRange { start: 11 * H, end: 12 * H }, PartRange { start: 12 * H, end: 12 * H + 7 }]
        );
        assert_eq!(split_logs(start, start + 10, 0), vec![PartRange { start, end: start + 10 }]);
        assert!(split_logs(0, i64::MAX, 1).len() <= MAX_PARTS);
    }

    proptest! {
        #[test]
        fn metric_parts_cover_every_step_once(
            start in -3 * H..30 * H, span in 0i64..20 * H, step in 1i64..2 * H, interval in 1i64..3 * H,
        ) {
            let end = start + span;
            let parts = split_metric(start, end, step, interval);
            let mut expected = Vec::new();
            let mut t = start;
            while t <= end { expected.push(t); t += step; }
            let mut got = Vec::new();
            for part in &parts {
                prop_assert!(part.start <= part.end);
                prop_assert_eq!((part.start - start) % step, 0, "part start off the step grid");
                prop_assert_eq!((part.end - start) % step, 0, "part end off the step grid");
                // A part never crosses an interval boundary.
                prop_assert_eq!(part.start.div_euclid(interval), part.end.div_euclid(interval));
                let mut t = part.start;
                while t <= part.end { got.push(t); t += step; }
            }
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn log_parts_cover_the_range_once(start in -3 * H..30 * H, span in 1i64..20 * H, interval in 1000i64..3 * H) {
            let end = start + span;
            let parts = split_logs(start, end, interval);
            prop_assert_eq!(parts[0].start, start);
            prop_assert_eq!(parts[parts.len() - 1].end, end);
            for pair in parts.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
            }
            prop_assert!(parts.len() <= MAX_PARTS);
            for part in &parts {
                prop_assert!(part.start < part.end);
            }
            // Cuts fall on interval boundaries (a widened interval is a multiple of it).
            for part in &parts[..parts.len() - 1] {
                prop_assert_eq!(part.end.rem_euclid(interval), 0);
            }
            if (span / interval) as usize + 2 <= MAX_PARTS {
                for part in &parts {
                    prop_assert_eq!(part.start.div_euclid(interval), (part.end - 1).div_euclid(interval));
                }
            }
        }
    }
}
