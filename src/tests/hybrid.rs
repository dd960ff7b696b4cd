//! `#[pg_test]`s for BM25 and hybrid search: the tsvector reader against PostgreSQL's own view of the
//! same values, BM25 against a brute-force SQL formula, statistics under random writes, and
//! hybrid_search against the core crate's reference fusion.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::util::*;
    use pgrx::prelude::*;

    /// A small deterministic generator, so failures reproduce.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const WORDS: &[&str] = &[
        "river",
        "stone",
        "o'neil",
        "back\\slash",
        "naïve",
        "fox",
        "foxes",
        "running",
        "runs",
        "a",
        "the",
        "x|y",
        "zebra",
        "quokka",
        "deep",
        "learning",
        "protein",
        "cell",
        "z",
    ];

    /// Between `min` and `max` (inclusive) words.
    fn text(rng: &mut Lcg, min: u64, max: u64) -> String {
        let len = min + rng.below(max - min + 1);
        (0..len)
            .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn lit(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }

    fn corpus(rng: &mut Lcg, n: usize) {
        Spi::run("CREATE TABLE ht (id bigint PRIMARY KEY, body text, tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED, emb vector(3))").unwrap();
        for id in 1..=n {
            let body = text(rng, 1, 30);
            let v = [
                rng.below(100) as f64 - 50.0,
                rng.below(100) as f64 - 50.0,
                rng.below(100) as f64 + 1.0,
            ];
            Spi::run(&format!(
                "INSERT INTO ht VALUES ({id}, {}, DEFAULT, '[{},{},{}]')",
                lit(&body),
                v[0],
                v[1],
                v[2]
            ))
            .unwrap();
        }
        Spi::run("CREATE INDEX ON ht USING gin (tsv); SELECT bm25_create('ht', 'tsv', 'english')").unwrap();
    }

    #[pg_test]
    fn tsvector_reader_sees_what_postgres_sees() {
        // Lengths and lexeme presence of stripped, weighted, long and odd vectors, compared with
        // unnest(tsvector), PostgreSQL's own reading of the same bytes.
        let mut rng = Lcg(7);
        Spi::run("CREATE TABLE tv (id int, v tsvector)").unwrap();
        for id in 0..200 {
            let body = text(&mut rng, 0, 400);
            let expr = match id % 4 {
                0 => format!("to_tsvector('english', {})", lit(&body)),
                1 => format!("strip(to_tsvector('simple', {}))", lit(&body)),
                2 => format!("setweight(to_tsvector('simple', {}), 'A')", lit(&body)),
                _ => format!("to_tsvector('simple', {}) || to_tsvector('english', {})", lit(&body), lit(&body)),
            };
            Spi::run(&format!("INSERT INTO tv VALUES ({id}, {expr})")).unwrap();
        }
        let bad_lengths = one_i64(
            "SELECT count(*) FROM tv WHERE bm25_document_length(v) <>
                 (SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0) FROM unnest(v) u)",
        );
        assert_eq!(bad_lengths, 0);
        // Every lexeme of every vector is found (score > 0 with k1 = 0: presence), absent ones are not.
        let misses = one_i64(
            "SELECT count(*) FROM tv, unnest(v) u
              WHERE bm25_score(v, ROW(NULL, ARRAY[u.lexeme], '{1}', 0, 0.5, 10, 1, NULL, NULL)::bm25query) <> 1",
        );
        assert_eq!(misses, 0);
        let false_hits = one_i64(
            "SELECT count(*) FROM tv
              WHERE bm25_score(v, ROW(NULL, '{absent-lexeme,zzzz}', '{1,1}', 0, 0.5, 10, 1, NULL, NULL)::bm25query) <> 0",
        );
        assert_eq!(false_hits, 0);
    }

    #[pg_test]
    fn bm25_search_matches_a_brute_force_sql_formula() {
        let mut rng = Lcg(11);
        corpus(&mut rng, 300);
        // BM25 written out in SQL over unnest(tsvector), with corpus statistics from a full scan.
        Spi::run(
            "CREATE FUNCTION brute(q text, k1 float8, b float8) RETURNS TABLE (id bigint, score float8) LANGUAGE sql AS $$
             WITH docs AS (SELECT ht.id, u.lexeme, cardinality(u.positions) AS tf FROM ht, unnest(ht.tsv) u),
                  len AS (SELECT ht.id, (SELECT sum(cardinality(u.positions)) FROM unnest(ht.tsv) u) AS dl FROM ht),
                  corpus AS (SELECT count(*)::float8 AS n, avg(dl) AS avgdl FROM len),
                  terms AS (SELECT u.lexeme, cardinality(u.positions) AS qtf FROM unnest(to_tsvector('english', q)) u),
                  df AS (SELECT t.lexeme, count(d.id)::float8 AS df FROM terms t LEFT JOIN docs d USING (lexeme) GROUP BY t.lexeme)
             SELECT d.id, sum(t.qtf * ln(1 + (c.n - df.df + 0.5) / (df.df + 0.5))
                              * d.tf * (k1 + 1) / (d.tf + k1 * (1 - b + b * l.dl / c.avgdl)))
               FROM docs d JOIN terms t USING (lexeme) JOIN df USING (lexeme) JOIN len l USING (id), corpus c
              GROUP BY d.id $$",
        )
        .unwrap();
        for _ in 0..20 {
            let q = text(&mut rng, 1, 6);
            let (k1, b) = (
                [0.0, 0.9, 1.2, 2.0][rng.below(4) as usize],
                [0.0, 0.4, 0.75, 1.0][rng.below(4) as usize],
            );
            let worst = Spi::get_one::<f64>(&format!(
                "SELECT coalesce(max(abs(s.score - r.score)), 0) + count(*) FILTER (WHERE s.id IS NULL OR r.id IS NULL)
                   FROM bm25_search('ht', 'id', 'tsv', {q}, 1000, {k1}, {b}) s
                   FULL JOIN brute({q}, {k1}, {b}) r USING (id)",
                q = lit(&q)
            ))
            .unwrap()
            .unwrap();
            assert!(worst < 1e-9, "query {q:?} k1 {k1} b {b}: off by {worst}");
        }
    }

    #[pg_test]
    fn statistics_follow_random_writes() {
        let mut rng = Lcg(13);
        corpus(&mut rng, 50);
        let mut next_id = 1000;
        for step in 0..150 {
            let sql = match rng.below(5) {
                0 => {
                    next_id += 1;
                    format!("INSERT INTO ht (id, body) VALUES ({next_id}, {})", lit(&text(&mut rng, 0, 20)))
                }
                1 => {
                    let body = text(&mut rng, 0, 12);
                    format!("UPDATE ht SET body = {} WHERE id % 7 = {}", lit(&body), rng.below(7))
                }
                2 => format!("UPDATE ht SET body = NULL WHERE id % 11 = {}", rng.below(11)),
                3 => format!("DELETE FROM ht WHERE id % 13 = {}", rng.below(13)),
                _ => {
                    next_id += 5;
                    format!(
                        "INSERT INTO ht (id, body) SELECT g, repeat('cell ', g % 9) FROM generate_series({}, {next_id}) g",
                        next_id - 4
                    )
                }
            };
            Spi::run(&sql).unwrap();
            let ok = Spi::get_one::<bool>(
                "SELECT (s.n_docs, s.total_length) = (SELECT count(tsv), coalesce(sum(bm25_document_length(tsv)), 0) FROM ht)
                   FROM bm25_stats('ht', 'tsv') s",
            )
            .unwrap()
            .unwrap();
            assert!(ok, "statistics drifted after step {step}: {sql}");
        }
    }

    #[pg_test]
    fn document_frequency_aggregate_counts_rows_per_lexeme() {
        let mut rng = Lcg(17);
        corpus(&mut rng, 200);
        let mismatches = one_i64(
            "WITH q AS (SELECT ARRAY['fox', 'river', 'zebra', 'nothing-like-it', 'run'] AS lex),
                  got AS (SELECT semvec_bm25_df(tsv, (SELECT lex FROM q)) AS df FROM ht)
             SELECT count(*) FROM q, got, generate_subscripts(q.lex, 1) i
              WHERE got.df[i] <> (SELECT count(*) FROM ht WHERE tsv @@ semvec_bm25_or_tsquery(ARRAY[q.lex[i]]))",
        );
        assert_eq!(mismatches, 0);
    }

    #[pg_test]
    fn bm25_index_term_stats_are_the_tables_own_counts() {
        // hybrid_search_sharded() sums these over the shards into global BM25 weights, so each must
        // be what a count over the table gives: documents, total length, rows holding each lexeme.
        let mut rng = Lcg(29);
        corpus(&mut rng, 200);
        Spi::run("CREATE INDEX ht_bm25 ON ht USING bm25 (tsv)").unwrap();
        let lexemes = "ARRAY['fox', 'river', 'run', 'zebra', 'nothing-like-it']";
        let counted = format!(
            "ARRAY[(SELECT count(tsv) FROM ht), (SELECT coalesce(sum(bm25_document_length(tsv)), 0) FROM ht)]::bigint[]
             || ARRAY(SELECT (SELECT count(*) FROM ht WHERE tsv @@ semvec_bm25_or_tsquery(ARRAY[l]))
                        FROM unnest({lexemes}) WITH ORDINALITY u(l, o) ORDER BY o)"
        );
        let index_says = format!("SELECT semvec_bm25_index_term_stats('ht_bm25', {lexemes})::text");
        assert_eq!(one_str(&index_says), one_str(&format!("SELECT ({counted})::text")));
        assert!(one_str(&index_says).ends_with(",0}"), "an absent lexeme has df 0");
        // Rows written after the build are counted too.
        Spi::run("INSERT INTO ht (id, body) SELECT g, repeat('zebra river ', g % 4) FROM generate_series(1001, 1040) g").unwrap();
        assert_eq!(one_str(&index_says), one_str(&format!("SELECT ({counted})::text")));
        // No lexemes: only the corpus counts.
        assert_eq!(one_i64("SELECT cardinality(semvec_bm25_index_term_stats('ht_bm25', '{}'))"), 2);
        Spi::run("CREATE INDEX ht_gin ON ht USING gin (tsv)").unwrap();
        assert_eq!(
            sqlstate_of("SELECT semvec_bm25_index_term_stats('ht_gin', '{fox}')").as_deref(),
            Some("42809")
        );
    }

    #[pg_test]
    fn hybrid_search_equals_reference_fusion_of_both_rankings() {
        let mut rng = Lcg(19);
        corpus(&mut rng, 250);
        for (q, k, kw, vw) in [
            ("fox river", 60.0, 1.0, 1.0),
            ("deep learning protein", 10.0, 2.0, 0.5),
            ("zebra", 1.0, 0.0, 1.0),
        ] {
            let v = "[3,-4,12]";
            // Without an HNSW index the vector side is exact, so the reference is exact too.
            let keyword: Vec<i64> = ids(&format!(
                "SELECT id FROM bm25_search('ht', 'id', 'tsv', {}, 40) ORDER BY rank",
                lit(q)
            ));
            let vector: Vec<i64> = ids(&format!("SELECT id FROM ht ORDER BY emb <=> '{v}', id LIMIT 30"));
            let want = semvec_bm25::fuse(&keyword, &vector, &semvec_bm25::RrfParams::new(k, kw, vw).unwrap());
            let got: Vec<(i64, f64, Option<i32>, Option<i32>)> = Spi::connect(|c| {
                c.select(
                    &format!(
                        "SELECT id, score, keyword_rank, vector_rank FROM hybrid_search('ht', 'id', 'tsv', 'emb', {}, '{v}',
                             top_k => 1000, keyword_depth => 40, vector_depth => 30, rrf_k => {k},
                             keyword_weight => {kw}, vector_weight => {vw})",
                        lit(q)
                    ),
                    None,
                    &[],
                )
                .unwrap()
                .map(|r| {
                    (
                        r.get(1).unwrap().unwrap(),
                        r.get(2).unwrap().unwrap(),
                        r.get(3).unwrap(),
                        r.get(4).unwrap(),
                    )
                })
                .collect()
            });
            assert_eq!(got.len(), want.len(), "{q}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.key, "{q}");
                assert!((g.1 - w.score).abs() < 1e-12, "{q}: {} vs {}", g.1, w.score);
                assert_eq!(g.2.map(|r| r as u32), w.keyword_rank, "{q}");
                assert_eq!(g.3.map(|r| r as u32), w.vector_rank, "{q}");
            }
        }
    }

    #[pg_test]
    fn misuse_raises_precise_sqlstates() {
        let mut rng = Lcg(23);
        corpus(&mut rng, 5);
        Spi::run("CREATE TABLE plain (id bigint, body text)").unwrap();
        let cases = [
            ("SELECT bm25_query('ht', 'tsv', 'x', -1, 0.75)", "22023"),
            ("SELECT bm25_query('ht', 'tsv', 'x', 1.2, 2)", "22023"),
            ("SELECT bm25_query('ht', 'nope', 'x')", "42703"),
            ("SELECT bm25_query('ht', 'id', 'x')", "42804"),
            ("SELECT bm25_query('plain', 'body', 'x')", "55000"),
            ("SELECT bm25_create('ht', 'tsv')", "42710"),
            ("SELECT bm25_drop('plain', 'body')", "42704"),
            (
                "SELECT * FROM hybrid_search('ht', 'id', 'tsv', 'emb', 'x', '[1,2,3]', rrf_k => 'NaN')",
                "22023",
            ),
            (
                "SELECT * FROM hybrid_search('ht', 'id', 'tsv', 'emb', 'x', '[1,2,3]', vector_depth => 0)",
                "22023",
            ),
            ("SELECT * FROM hybrid_search('ht', 'id', 'tsv', 'body', 'x', '[1,2,3]')", "42804"),
            (
                "SELECT * FROM hybrid_search_as(NULL::date, 'ht', 'id', 'tsv', 'emb', 'x', '[1,2,3]')",
                "42804",
            ),
            (
                "SELECT bm25_score('a:1', ROW(NULL, '{a}', NULL, 1.2, 0.75, 1, 1, NULL, NULL)::bm25query)",
                "22004",
            ),
            (
                "SELECT bm25_score('a:1', ROW(NULL, '{a,NULL}', '{1,1}', 1.2, 0.75, 1, 1, NULL, NULL)::bm25query)",
                "22004",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(sqlstate_of(sql).as_deref(), Some(want), "{sql}");
        }
    }

    fn ids(sql: &str) -> Vec<i64> {
        Spi::connect(|c| {
            c.select(sql, None, &[])
                .unwrap()
                .map(|r| r.get::<i64>(1).unwrap().unwrap())
                .collect()
        })
    }

    fn one_i64(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).expect("spi").expect("not null")
    }
}
