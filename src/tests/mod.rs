//! `#[pg_test]`s: SQL-reachable behaviour checked inside a real backend.

pub mod util;
mod hybrid;
mod reliability;
mod types;
mod vector;
