//! The ruler (Loki's alerting and recording rules over LogQL): rule groups stored per
//! tenant where Loki stores them (`store`), evaluated on their interval by one task per
//! group (`manager`) through a `RuleQuerier` (the local querier in the single binary),
//! alerts sent to Alertmanager (`notifier`); in remote mode queries go to a query frontend
//! (`remote_eval`), and on a cluster the ruler ring picks the groups each ruler evaluates
//! (`Ruler::set_ownership`). The rule format, the alert state machine
//! and the templates are `skald-rules` (pure); the HTTP API is in `skald-api`.

pub mod config;
pub mod manager;
pub mod notifier;
pub mod proto;
pub mod remote_eval;
pub mod remote_write;
pub mod store;

pub use config::RulerConfig;
pub use manager::{GroupSnapshot, GroupState, Ownership, RuleQuerier, RuleState, Ruler};
pub use remote_eval::{FrontendTransport, RemoteRuleQuerier};
pub use remote_write::RemoteWriter;
pub use store::{RuleStore, StoreError};
