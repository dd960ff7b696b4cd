//! `#[pg_test]`s for `halfvec`, `sparsevec`, bit distances and their hnsw operator classes.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::util::*;
    use pgrx::prelude::*;

    fn one_i64(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).expect("spi").expect("not null")
    }

    fn one_bool(sql: &str) -> bool {
        Spi::get_one::<bool>(sql).expect("spi").expect("not null")
    }

    /// The plan of `sql`, one line per row of EXPLAIN.
    fn explain(sql: &str) -> String {
        Spi::connect(|c| {
            c.select(&format!("EXPLAIN (COSTS OFF) {sql}"), None, &[])
                .expect("spi")
                .map(|r| r.get::<String>(1).expect("spi").unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[pg_test]
    fn halfvec_text_rounds_to_half_precision_and_prints_shortest_float() {
        assert_eq!(one_str("SELECT '[1,2,3]'::halfvec::text"), "[1,2,3]");
        assert_eq!(one_str("SELECT '[1.23456]'::halfvec::text"), "[1.234375]");
        assert_eq!(one_str("SELECT '[65519,-65519]'::halfvec::text"), "[65504,-65504]");
        assert_eq!(one_str("SELECT '[1e-8]'::halfvec::text"), "[0]");
        assert_eq!(one_str("SELECT '[0.1]'::halfvec::vector::text"), "[0.099975586]");
    }

    #[pg_test]
    fn halfvec_binary_send_uses_pgvector_layout() {
        // int16 dim, int16 unused, then big-endian IEEE halves
        assert_eq!(one_str("SELECT encode(halfvec_send('[1,-2]'), 'hex')"), "000200003c00c000");
        Spi::run("CREATE TABLE hsrc (v halfvec(2)); INSERT INTO hsrc VALUES ('[1,-2]'), ('[0.5,65504]')").unwrap();
        Spi::run("COPY hsrc TO '/tmp/semvec_pgtest_halfvec.bin' WITH (FORMAT binary)").unwrap();
        Spi::run("CREATE TABLE hdst (v halfvec(2)); COPY hdst FROM '/tmp/semvec_pgtest_halfvec.bin' WITH (FORMAT binary)").unwrap();
        assert_eq!(
            one_str("SELECT string_agg(v::text, ' ' ORDER BY v) FROM hdst"),
            "[0.5,65504] [1,-2]"
        );
    }

    #[pg_test]
    fn sparsevec_input_sorts_indices_and_drops_zeros() {
        assert_eq!(one_str("SELECT '{3:2,1:1.5,2:0}/5'::sparsevec::text"), "{1:1.5,3:2}/5");
        assert_eq!(one_str("SELECT '{}/1000000000'::sparsevec::text"), "{}/1000000000");
        assert_eq!(one_str("SELECT '[0,1.5,0,3.5,0]'::vector::sparsevec::text"), "{2:1.5,4:3.5}/5");
        assert_eq!(one_str("SELECT '{2:1.5,4:3.5}/5'::sparsevec::halfvec::text"), "[0,1.5,0,3.5,0]");
    }

    #[pg_test]
    fn sparsevec_binary_send_uses_pgvector_layout() {
        // int32 dim, int32 nnz, int32 unused, 0-based int32 indices, float4 values
        assert_eq!(
            one_str("SELECT encode(sparsevec_send('{1:1.5,3:-2}/5'), 'hex')"),
            "00000005000000020000000000000000000000023fc00000c0000000"
        );
    }

    #[pg_test]
    fn sparse_distances_equal_the_dense_ones() {
        Spi::run(
            "CREATE TABLE sp AS SELECT i, ARRAY(SELECT CASE WHEN (i * j) % 5 = 0 THEN ((i + j) % 7 - 3)::real ELSE 0 END
                                                FROM generate_series(1, 40) j)::vector(40) AS v
             FROM generate_series(1, 30) i",
        )
        .unwrap();
        for op in ["<->", "<#>", "<+>"] {
            let sql = format!("SELECT bool_and((a.v::sparsevec {op} b.v::sparsevec) = (a.v {op} b.v)) FROM sp a, sp b");
            assert!(one_bool(&sql), "{op}");
        }
        // cosine is NaN for zero vectors on both sides; compare the others to 1e-6
        assert!(one_bool(
            "SELECT bool_and(abs((a.v::sparsevec <=> b.v::sparsevec) - (a.v <=> b.v)) < 1e-6)
             FROM sp a, sp b WHERE vector_norm(a.v) > 0 AND vector_norm(b.v) > 0"
        ));
    }

    #[pg_test]
    fn halfvec_distances_equal_vector_distances_on_exact_values() {
        for op in ["<->", "<#>", "<=>", "<+>"] {
            let sql = format!("SELECT ('[1,2,-3,0.5]'::halfvec {op} '[4,-1,2,0.25]') = ('[1,2,-3,0.5]'::vector {op} '[4,-1,2,0.25]')");
            assert!(one_bool(&sql), "{op}");
        }
        assert_eq!(one_f64("SELECT l2_norm('[3,4]'::halfvec)"), 5.0);
    }

    #[pg_test]
    fn bit_distances_count_differing_and_shared_bits() {
        assert_eq!(one_f64("SELECT B'1010' <~> B'0110'"), 2.0);
        assert_eq!(one_f64("SELECT jaccard_distance(B'1100', B'1010')"), 1.0 - 1.0 / 3.0);
        assert_eq!(one_f64("SELECT jaccard_distance(B'0000', B'0000')"), 1.0);
        assert_eq!(
            one_f64("SELECT hamming_distance(binary_quantize(array_fill(1, ARRAY[1000])::vector), binary_quantize(array_fill(-1, ARRAY[1000])::vector))"),
            1000.0
        );
    }

    #[pg_test]
    fn hnsw_indexes_on_each_type_return_the_exact_neighbours_of_a_small_table() {
        Spi::run(
            "SET enable_seqscan = off;
             CREATE TABLE hx (id int, h halfvec(8), s sparsevec(8), b bit(8));
             INSERT INTO hx SELECT i, v::halfvec(8), v::sparsevec(8), binary_quantize(v)::bit(8)
             FROM (SELECT i, ARRAY(SELECT sin(i * 1.3 + j * 0.7) FROM generate_series(1, 8) j)::vector(8) AS v
                   FROM generate_series(1, 200) i) g;
             CREATE INDEX ON hx USING hnsw (h halfvec_l2_ops);
             CREATE INDEX ON hx USING hnsw (s sparsevec_ip_ops);
             CREATE INDEX ON hx USING hnsw (b bit_jaccard_ops);",
        )
        .unwrap();
        let pairs = [
            ("h", "<->", "(SELECT h FROM hx WHERE id = 17)"),
            ("s", "<#>", "(SELECT s FROM hx WHERE id = 17)"),
            ("b", "<%>", "(SELECT b FROM hx WHERE id = 17)"),
        ];
        for (col, op, q) in pairs {
            // compare distances (ties may come in any order): the k-th distance from the index
            // equals the k-th exact distance
            let sql = format!(
                "SELECT bool_and(i.d = e.d) FROM
                   (SELECT row_number() OVER () AS k, d FROM (SELECT {col} {op} {q} AS d FROM hx ORDER BY {col} {op} {q} LIMIT 5) x) i
                 JOIN
                   (SELECT row_number() OVER () AS k, d FROM (SELECT ({col} {op} {q}) + 0 AS d FROM hx ORDER BY 1 LIMIT 5) y) e
                 USING (k)"
            );
            assert!(one_bool(&sql), "{col} {op}");
        }
        let plan = explain("SELECT id FROM hx ORDER BY h <-> '[0,0,0,0,0,0,0,0]' LIMIT 3");
        assert!(plan.contains("hx_h_idx"), "{plan}");
    }

    #[pg_test]
    fn hnsw_cosine_skips_zero_vectors_of_every_type() {
        Spi::run(
            "SET enable_seqscan = off;
             CREATE TABLE hz (h halfvec(2), s sparsevec(2));
             INSERT INTO hz VALUES ('[0,0]', '{}/2'), ('[1,0]', '{1:1}/2'), ('[0,1]', '{2:1}/2');
             CREATE INDEX ON hz USING hnsw (h halfvec_cosine_ops);
             CREATE INDEX ON hz USING hnsw (s sparsevec_cosine_ops);",
        )
        .unwrap();
        assert_eq!(one_i64("SELECT count(*) FROM (SELECT 1 FROM hz ORDER BY h <=> '[1,1]') t"), 2);
        assert_eq!(one_i64("SELECT count(*) FROM (SELECT 1 FROM hz ORDER BY s <=> '{1:1}/2') t"), 2);
    }

    #[pg_test]
    fn binary_quantize_then_rerank_finds_the_exact_neighbours() {
        Spi::run(
            "SET enable_seqscan = off;
             CREATE TABLE bq (id int, e vector(32));
             INSERT INTO bq SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.91) + cos(i * j * 0.013) FROM generate_series(1, 32) j)::vector(32)
             FROM generate_series(1, 300) i;
             CREATE INDEX ON bq USING hnsw ((binary_quantize(e)::bit(32)) bit_hamming_ops);
             SET hnsw.ef_search = 100;",
        )
        .unwrap();
        let plan = explain(
            "SELECT id FROM bq ORDER BY binary_quantize(e)::bit(32) <~> binary_quantize('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32]'::vector) LIMIT 10",
        );
        assert!(plan.contains("Index Scan"), "{plan}");
        let hits = one_i64(
            "SELECT count(*) FROM bq q CROSS JOIN LATERAL (
                SELECT (SELECT array_agg(id ORDER BY id) FROM (
                          SELECT id FROM (SELECT id, e FROM bq ORDER BY binary_quantize(e)::bit(32) <~> binary_quantize(q.e) LIMIT 100) c
                          ORDER BY e <=> q.e LIMIT 3) r)
                     = (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM bq ORDER BY (e <=> q.e) + 0 LIMIT 3) x) AS same) t
             WHERE q.id % 30 = 0 AND t.same",
        );
        assert_eq!(hits, 10);
    }

    #[pg_test]
    fn errors_raise_pgvector_sqlstates() {
        Spi::run(
            "CREATE TABLE hv (v varbit(3)); CREATE TABLE hs (v sparsevec(2000));
             INSERT INTO hs SELECT array_fill(1, ARRAY[2000])::vector::sparsevec;
             CREATE TABLE hh (v halfvec(4001)); CREATE TABLE hn (v halfvec);",
        )
        .unwrap();
        let cases = [
            ("SELECT '[65520]'::halfvec", "22003"),
            ("SELECT '[NaN]'::halfvec", "22000"),
            ("SELECT '[1,2'::halfvec", "22P02"),
            ("SELECT '[1,2]'::halfvec(3)", "22000"),
            ("SELECT '[1]'::halfvec(16001)", "22023"),
            ("SELECT '[65504]'::halfvec + '[65504]'", "22003"),
            ("SELECT '[1,2]'::halfvec <-> '[1]'", "22000"),
            ("SELECT array_fill(0, ARRAY[16000])::halfvec || '[1]'", "54000"),
            ("SELECT '{1:1,1:2}/2'::sparsevec", "22000"),
            ("SELECT '{3:1}/2'::sparsevec", "22000"),
            ("SELECT '{}/1000000001'::sparsevec", "54000"),
            ("SELECT '{1:1}/2'::sparsevec <-> '{1:1}/3'", "22000"),
            ("SELECT '{}/16001'::sparsevec::vector", "54000"),
            ("SELECT B'101' <~> B'10'", "22000"),
            ("CREATE INDEX ON hv USING hnsw (v bit_hamming_ops)", "0A000"),
            ("CREATE INDEX ON hs USING hnsw (v sparsevec_l2_ops)", "54000"),
            ("CREATE INDEX ON hh USING hnsw (v halfvec_l2_ops)", "54000"),
            ("CREATE INDEX ON hn USING hnsw (v halfvec_l2_ops)", "22023"),
        ];
        for (sql, want) in cases {
            assert_eq!(sqlstate_of(sql).as_deref(), Some(want), "{sql}");
        }
    }
}
