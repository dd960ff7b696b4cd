//! `#[pg_test]`s: SQL-reachable behaviour checked inside a real backend.

mod hybrid;
mod reliability;
mod types;
pub mod util;
mod vector;
