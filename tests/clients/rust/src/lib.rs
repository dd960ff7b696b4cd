//! Helpers for the sqlx + `pgvector` crate tests against semvec: the connection (from the libpq
//! environment: PGHOST, PGPORT, PGUSER, and SEMVEC_CLIENTS_DB), deterministic data, and EXPLAIN.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Executor, Row};

/// float32 edge values that must come back bit for bit (as in the Python client tests).
pub const EDGE: [f32; 10] = [
    1e-7,
    -0.0,
    3.402_823_5e38,
    -3.402_823_5e38,
    1.175_494_4e-38,
    1e-45,
    0.1,
    1.0 / 3.0,
    -2.5,
    16_777_217.0,
];
/// pgvector's text output for [`EDGE`].
pub const EDGE_TEXT: &str =
    "[1e-07,-0,3.4028235e+38,-3.4028235e+38,1.1754944e-38,1e-45,0.1,0.33333334,-2.5,1.6777216e+07]";

/// One connection (so session settings apply to every statement), with the extension created.
pub async fn connect() -> PgConnection {
    let db = std::env::var("SEMVEC_CLIENTS_DB").unwrap_or_else(|_| "semvec_clients".into());
    let ext = std::env::var("SEMVEC_CLIENTS_EXTENSION").unwrap_or_else(|_| "semvec".into());
    // PgConnectOptions::new() reads PGHOST, PGPORT and PGUSER; the project cluster otherwise.
    let mut opts = PgConnectOptions::new().database(&db);
    if std::env::var_os("PGHOST").is_none() {
        opts = opts.host("/tmp");
    }
    if std::env::var_os("PGPORT").is_none() {
        opts = opts.port(28815);
    }
    if std::env::var_os("PGUSER").is_none() {
        opts = opts.username("postgres");
    }
    let mut conn = PgConnection::connect_with(&opts).await.expect("connect to the semvec test database");
    conn.execute(AssertSqlSafe(format!("CREATE EXTENSION IF NOT EXISTS \"{ext}\"")))
        .await
        .expect("create extension");
    conn
}

/// `n` deterministic pseudo-random vectors of `dim` values in [-1, 1) (xorshift; no extra crates).
pub fn pseudo_random(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    ((s >> 40) as f32 / (1u64 << 23) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}

/// The bit patterns of a float slice, so -0.0 and 0.0 differ and NaN-free values compare exactly.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// EXPLAIN (COSTS OFF) of a statement with one bound parameter, seq scans off, as one string.
pub async fn plan_with<'q, T>(conn: &mut PgConnection, sql: &str, param: T) -> String
where
    T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    conn.execute("SET enable_seqscan = off").await.unwrap();
    let explain = format!("EXPLAIN (COSTS OFF) {sql}");
    let rows = sqlx::query(AssertSqlSafe(explain)).bind(param).fetch_all(&mut *conn).await.unwrap();
    conn.execute("RESET enable_seqscan").await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
}
