//! The Skald web UI: a LogQL search page served at `/`, talking to the Loki HTTP API of
//! the same server (same origin, so no CORS and no configuration).
//!
//! Why it looks like this:
//! - Every asset (HTML, CSS, JavaScript modules, icon) is compiled into the binary with
//!   `include_bytes!` ([`assets`]), so the UI works on a closed network and a deployed
//!   binary cannot drift from its UI. There is no build step: the JavaScript is plain
//!   ES modules, served as written.
//! - Asset names carry no content hash, so responses say `Cache-Control: no-cache` and
//!   carry a strong `ETag` (a hash of the bytes computed at compile time): browsers
//!   revalidate and get `304 Not Modified` until the binary changes.
//! - The UI owns `/` and `/ui/*` only; everything else stays with the API router it is
//!   merged into, so an unknown API path still gets the API's own 404.

pub mod assets;
mod serve;

pub use serve::router;
