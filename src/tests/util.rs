//! Helpers shared by the `#[pg_test]` modules.

use pgrx::prelude::*;

/// Run `sql` and return the SQLSTATE it fails with, or None when it succeeds. It runs in a
/// subtransaction, rolled back when it fails, so the test's transaction stays usable: an error
/// caught without one leaves the backend's state half-reset. Since PostgreSQL 17 a failed
/// CREATE INDEX then leaves its restricted `search_path` (pg_catalog, pg_temp) in force, and the
/// next statement no longer finds the tables in `public`.
pub fn sqlstate_of(sql: &str) -> Option<String> {
    unsafe {
        let cxt = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(cxt);
        let state = sqlstate_unprotected(sql);
        if state.is_none() {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(cxt);
        pg_sys::CurrentResourceOwner = owner;
        state
    }
}

fn sqlstate_unprotected(sql: &str) -> Option<String> {
    let sql = sql.to_owned();
    PgTryBuilder::new(|| {
        Spi::run(&sql).expect("spi");
        None
    })
    .catch_others(|e| match e {
        pg_sys::panic::CaughtError::PostgresError(r)
        | pg_sys::panic::CaughtError::ErrorReport(r)
        | pg_sys::panic::CaughtError::RustPanic { ereport: r, .. } => Some(sqlstate_string(r.sql_error_code())),
    })
    .execute()
}

fn sqlstate_string(code: pg_sys::errcodes::PgSqlErrorCode) -> String {
    let mut v = code as i32;
    let mut s = String::new();
    for _ in 0..5 {
        s.push(((v & 0x3F) as u8 + b'0') as char);
        v >>= 6;
    }
    s
}

pub fn one_str(sql: &str) -> String {
    Spi::get_one::<String>(sql).expect("spi").expect("not null")
}

pub fn one_f64(sql: &str) -> f64 {
    Spi::get_one::<f64>(sql).expect("spi").expect("not null")
}
