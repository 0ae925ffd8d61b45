//! LogQL, Loki's query language: the syntax tree, the parser and printer, log pipelines
//! and the evaluator of log and metric queries.
//!
//! The crate is pure (no IO, no async): the evaluator pulls entries from a
//! [`engine::StreamSource`] that the querier implements over ingesters and the store, so
//! the same code answers in one process and across a cluster.
//!
//! Layout:
//! - [`ast`]: the syntax tree; [`parser`] builds it (errors carry line and column),
//!   `print` prints it back as canonical LogQL.
//! - [`pipeline`]: compiled log pipelines (line filters, parsers, label filters,
//!   formatters) and sample extraction (`unwrap`).
//! - [`engine`]: evaluation of log queries (limit, direction) and metric queries (range
//!   and vector aggregations, binary operators) over a time range and step.

pub mod ast;
pub mod engine;
mod lexer;
pub mod parser;
pub mod pipeline;
mod pretty;
mod print;

pub use ast::*;
pub use parser::{ParseError, parse_expr, parse_matchers};
pub use pretty::prettify;
