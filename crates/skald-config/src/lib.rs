//! The server's configuration, read the way Loki reads its own, so that a Loki user's
//! config file and command line start Skald as they are.
//!
//! - [`flags`]: Loki's command line (`-config.file`, `-config.expand-env`, `-target`,
//!   and a flag for every key) beside Skald's own.
//! - [`envsubst`]: `${VAR}` and `${VAR:-default}` in the file, as Loki expands them.
//! - [`schema`]: every key of every Loki version (`loki_keys.tsv`, extracted from Loki's
//!   configuration reference by `scripts/loki-config-keys`) and Skald's own keys.
//! - [`load`]: file -> flags over it -> every key checked ([`check`]) -> the sections
//!   Skald reads ([`sections`]). Keys of Loki's that Skald does not read are accepted and
//!   listed, so the server names them once at start; a key in no Loki version is refused
//!   with the nearest known key ("did you mean").
//! - [`overrides`]: per-tenant limits from Loki's runtime config file.
//! - [`print`]: the effective configuration as YAML (`/config`, `-print-config-stderr`).
//!
//! Invariant: a key is either read by a section, listed as ignored, or refused; never
//! silently dropped.

pub mod check;
mod cluster;
pub mod envsubst;
pub mod flags;
pub mod load;
pub mod overrides;
pub mod print;
pub mod schema;
pub mod sections;
mod validate;

pub use load::{ConfigError, LoadOptions, Loaded, load_file, load_text, parse};
pub use sections::*;
pub use validate::chunk_codec;
