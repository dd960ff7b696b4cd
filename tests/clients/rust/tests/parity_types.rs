//! halfvec, sparsevec and bit through the `pgvector` crate's sqlx support. Needs semvec's issue 5
//! (tests/scenarios/clients.sh runs this file only when the installed semvec has those types).

use pgvector::{Bit, HalfVector, SparseVector};
use semvec_client_tests_rust::{connect, plan_with, pseudo_random};
use sqlx::Executor;

#[tokio::test]
async fn halfvec_round_trips_in_binary() {
    let mut conn = connect().await;
    let edge = [65504.0f32, -0.0, 5.960_464_5e-8, 0.1, -2.5, 1e-7, 1.0 / 3.0];
    let h = HalfVector::from_f32_slice(&edge);
    let got: HalfVector = sqlx::query_scalar("SELECT $1::halfvec(7)").bind(&h).fetch_one(&mut conn).await.unwrap();
    let got_bits: Vec<u16> = got.as_slice().iter().map(|v| v.to_bits()).collect();
    let want_bits: Vec<u16> = h.as_slice().iter().map(|v| v.to_bits()).collect();
    assert_eq!(got_bits, want_bits);
    let text: String = sqlx::query_scalar("SELECT $1::halfvec::text").bind(&h).fetch_one(&mut conn).await.unwrap();
    assert_eq!(text, "[65504,-0,5.9604645e-08,0.099975586,-2.5,1.1920929e-07,0.33325195]");
}

#[tokio::test]
async fn sparsevec_round_trips_in_binary() {
    let mut conn = connect().await;
    let s = SparseVector::from_dense(&[0.0, 1.5, 0.0, -2.0, 3.402_823_5e38]);
    let got: SparseVector = sqlx::query_scalar("SELECT $1::sparsevec(5)").bind(&s).fetch_one(&mut conn).await.unwrap();
    assert_eq!(got, s);
    let text: String = sqlx::query_scalar("SELECT $1::sparsevec::text").bind(&s).fetch_one(&mut conn).await.unwrap();
    assert_eq!(text, "{2:1.5,4:-2,5:3.4028235e+38}/5");
}

#[tokio::test]
async fn bit_round_trips_and_hamming_distance() {
    let mut conn = connect().await;
    let b = Bit::new(&[true, false, true, false, false, false, false, true, true]);
    let got: Bit = sqlx::query_scalar("SELECT $1::bit(9)").bind(&b).fetch_one(&mut conn).await.unwrap();
    assert_eq!(got, b);
    let d: f64 = sqlx::query_scalar("SELECT $1::bit(9) <~> B'000000000'").bind(&b).fetch_one(&mut conn).await.unwrap();
    assert_eq!(d, 4.0);
}

#[tokio::test]
async fn halfvec_nearest_neighbours_through_hnsw_index() {
    let mut conn = connect().await;
    conn.execute("DROP TABLE IF EXISTS rs_half; CREATE TABLE rs_half (id int PRIMARY KEY, h halfvec(12))").await.unwrap();
    let data = pseudo_random(200, 12, 5);
    for (i, v) in data.iter().enumerate() {
        sqlx::query("INSERT INTO rs_half VALUES ($1, $2)")
            .bind(i as i32)
            .bind(HalfVector::from_f32_slice(v))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.execute("CREATE INDEX rs_half_hnsw ON rs_half USING hnsw (h halfvec_l2_ops)").await.unwrap();
    let q = HalfVector::from_f32_slice(&data[33]);
    let sql = "SELECT id FROM rs_half ORDER BY h <-> $1 LIMIT 3";
    assert!(plan_with(&mut conn, sql, q.clone()).await.contains("Index Scan using rs_half_hnsw on rs_half"));
    conn.execute("SET enable_seqscan = off").await.unwrap();
    let ids: Vec<i32> = sqlx::query_scalar(sql).bind(q).fetch_all(&mut conn).await.unwrap();
    assert_eq!(ids[0], 33);
    conn.execute("DROP TABLE rs_half").await.unwrap();
}
