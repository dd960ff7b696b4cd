//! The `pgvector` crate's sqlx support against semvec's `vector`: sqlx sends and reads every value
//! in binary (vector_recv / vector_send), so these prove the binary format and the HNSW index.

use pgvector::Vector;
use semvec_client_tests_rust::{bits, connect, plan_with, pseudo_random, EDGE, EDGE_TEXT};
use sqlx::{AssertSqlSafe, Executor, Row};

#[tokio::test]
async fn binary_round_trip_is_exact_for_edge_values() {
    let mut conn = connect().await;
    conn.execute("DROP TABLE IF EXISTS rs_edge; CREATE TABLE rs_edge (id int PRIMARY KEY, embedding vector(10))")
        .await
        .unwrap();
    sqlx::query("INSERT INTO rs_edge VALUES (1, $1), (2, NULL)")
        .bind(Vector::from(EDGE.to_vec()))
        .execute(&mut conn)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT embedding, embedding::text AS t FROM rs_edge ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let got: Vector = rows[0].get("embedding");
    assert_eq!(bits(got.as_slice()), bits(&EDGE));
    assert_eq!(rows[0].get::<String, _>("t"), EDGE_TEXT);
    assert_eq!(rows[1].get::<Option<Vector>, _>("embedding"), None);
    conn.execute("DROP TABLE rs_edge").await.unwrap();
}

#[tokio::test]
async fn text_input_decodes_to_the_same_floats() {
    let mut conn = connect().await;
    let got: Vector = sqlx::query_scalar("SELECT $1::text::vector")
        .bind(EDGE_TEXT)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(bits(got.as_slice()), bits(&EDGE));
}

#[tokio::test]
async fn vector_arrays_round_trip() {
    let mut conn = connect().await;
    let arr = vec![Vector::from(EDGE.to_vec()), Vector::from(vec![1.0; 10])];
    let got: Vec<Vector> = sqlx::query_scalar("SELECT $1::vector(10)[]")
        .bind(&arr)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(bits(got[0].as_slice()), bits(&EDGE));
    assert_eq!(got[1], arr[1]);
}

#[tokio::test]
async fn wrong_dimensions_fail_with_pgvector_message_and_sqlstate() {
    let mut conn = connect().await;
    let err = sqlx::query("SELECT $1::vector(3)")
        .bind(Vector::from(vec![1.0, 2.0]))
        .fetch_one(&mut conn)
        .await
        .unwrap_err();
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("22000"));
    assert_eq!(db.message(), "expected 3 dimensions, not 2");
}

async fn nearest_neighbours(table: &str, opclass: &str, op: &str) {
    let mut conn = connect().await;
    conn.execute(AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, embedding vector(12))")))
        .await
        .unwrap();
    let data = pseudo_random(300, 12, 77);
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    for (i, v) in data.iter().enumerate() {
        sqlx::query(AssertSqlSafe(format!("INSERT INTO {table} VALUES ($1, $2)")))
            .bind(i as i32)
            .bind(Vector::from(v.clone()))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    conn.execute(AssertSqlSafe(format!("CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding {opclass}) WITH (m = 16, ef_construction = 64)")))
        .await
        .unwrap();

    let query = Vector::from(data[150].iter().map(|x| x * 1.5 + 0.001).collect::<Vec<f32>>());
    let sql = format!("SELECT id FROM {table} ORDER BY embedding {op} $1 LIMIT 5");
    let plan = plan_with(&mut conn, &sql, query.clone()).await;
    assert!(plan.contains(&format!("Index Scan using {table}_hnsw on {table}")), "{plan}");

    conn.execute("SET hnsw.ef_search = 100; SET enable_seqscan = off").await.unwrap();
    let by_index: Vec<i32> = sqlx::query_scalar(AssertSqlSafe(sql.clone())).bind(query.clone()).fetch_all(&mut conn).await.unwrap();
    conn.execute("RESET enable_seqscan; SET enable_indexscan = off").await.unwrap();
    let exact: Vec<i32> = sqlx::query_scalar(AssertSqlSafe(sql.clone())).bind(query).fetch_all(&mut conn).await.unwrap();
    assert_eq!(by_index, exact);
    assert_eq!(by_index[0], 150);
    conn.execute(AssertSqlSafe(format!("DROP TABLE {table}"))).await.unwrap();
}

#[tokio::test]
async fn l2_nearest_neighbours_through_hnsw_index() {
    nearest_neighbours("rs_knn_l2", "vector_l2_ops", "<->").await;
}

#[tokio::test]
async fn cosine_nearest_neighbours_through_hnsw_index() {
    nearest_neighbours("rs_knn_cos", "vector_cosine_ops", "<=>").await;
}
