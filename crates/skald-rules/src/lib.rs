//! The ruler's pure parts, as Loki's ruler (Prometheus' rules engine over LogQL) has them:
//!
//! - `format`: rule files (Prometheus' rule-group YAML with LogQL expressions), read
//!   strictly and checked with Loki's messages;
//! - `alert`: the alert state machine (pending, firing, resolved; `for`,
//!   `keep_firing_for`, the group's `limit`), the `ALERTS`/`ALERTS_FOR_STATE` series and
//!   the restoration of `for` state from the data after a restart;
//! - `template`/`humanize`: label and annotation templates with Prometheus' functions;
//! - `notify`: Alertmanager's v2 alert shape;
//! - `duration`: Prometheus' duration strings.
//!
//! No IO here: storing rules, evaluating on a clock, querying, and sending are the
//! `skald-ruler` crate's. Times are Unix milliseconds.

pub mod alert;
pub mod duration;
pub mod format;
pub mod humanize;
pub mod notify;
pub mod template;

pub use alert::{Alert, AlertSet, AlertSpec, AlertState, Labels, OutputSample};
pub use format::{PromDuration, Rule, RuleGroup, RuleGroups};
