//! `#[pg_test]`s for reliability: `semvec_index_check`, bad input through every door (text,
//! binary COPY, typmods, index options, GUCs) with its SQLSTATE, privileges, and the catalog
//! attributes (volatility, strictness, parallel safety) of every function.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::util::*;
    use pgrx::prelude::*;

    /// Runs `sql` in a subtransaction, like a PL/pgSQL EXCEPTION block, so a failure leaves the
    /// test's transaction usable; returns the SQLSTATE it failed with.
    fn fails_with(sql: &str) -> Option<String> {
        unsafe {
            let cxt = pg_sys::CurrentMemoryContext;
            let owner = pg_sys::CurrentResourceOwner;
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::MemoryContextSwitchTo(cxt);
            let state = sqlstate_of(sql);
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

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn one_i64(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).expect("spi").expect("not null")
    }

    /// The whole plan of `sql`, one line per row of EXPLAIN.
    fn explain(sql: &str) -> String {
        Spi::connect(|c| {
            c.select(&format!("EXPLAIN (COSTS OFF) {sql}"), None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    /// `n` rows of random `dims`-dimensional vectors, ids 1..=n.
    fn random_table(name: &str, n: usize, dims: usize) {
        run(&format!(
            "CREATE TABLE {name} (id int PRIMARY KEY, note text, v vector({dims}));
             SELECT setseed(0.42);
             INSERT INTO {name} SELECT i, 'row ' || i,
                 (SELECT array_agg(round((random() * 100)::numeric, 2)) FROM generate_series(1, {dims}) WHERE i > 0)::vector
             FROM generate_series(1, {n}) i;"
        ));
    }

    fn check_field(index: &str, field: &str) -> String {
        one_str(&format!("SELECT semvec_index_check('{index}')->>'{field}'"))
    }

    #[pg_test]
    fn index_check_passes_after_build_inserts_updates_and_deletes() {
        random_table("chk", 600, 8);
        run("CREATE INDEX chk_l2 ON chk USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)");
        run("CREATE INDEX chk_cos ON chk USING hnsw (v vector_cosine_ops)");
        for idx in ["chk_l2", "chk_cos"] {
            assert_eq!(
                check_field(idx, "ok"),
                "true",
                "{}",
                one_str(&format!("SELECT semvec_index_check('{idx}')::text"))
            );
            assert_eq!(check_field(idx, "elements"), "600");
            assert_eq!(check_field(idx, "heap_tuples_checked"), "600");
            assert_eq!(check_field(idx, "problem_count"), "0");
        }
        // On-disk inserts, exact duplicates, non-HOT and HOT updates, deletes, a NULL, a zero vector
        // (not indexed under cosine).
        run("INSERT INTO chk SELECT id + 1000, note, v FROM chk WHERE id <= 300");
        run("UPDATE chk SET v = v + v WHERE id % 7 = 0");
        run("UPDATE chk SET note = 'hot' WHERE id % 5 = 0");
        run("DELETE FROM chk WHERE id % 11 = 0");
        run("INSERT INTO chk VALUES (5000, 'null', NULL), (5001, 'zero', '[0,0,0,0,0,0,0,0]')");
        for idx in ["chk_l2", "chk_cos"] {
            let report = one_str(&format!("SELECT semvec_index_check('{idx}')::text"));
            assert_eq!(check_field(idx, "ok"), "true", "{report}");
        }
        let visible = one_i64("SELECT count(*) FROM chk WHERE v IS NOT NULL");
        assert_eq!(check_field("chk_l2", "heap_tuples_checked"), visible.to_string());
        assert_eq!(check_field("chk_cos", "heap_tuples_checked"), (visible - 1).to_string());
        // Without the table pass.
        assert_eq!(one_str("SELECT semvec_index_check('chk_l2', false)->>'heap_checked'"), "false");
    }

    #[pg_test]
    fn index_check_of_an_empty_index_passes() {
        run("CREATE TABLE empty_t (v vector(3)); CREATE INDEX empty_i ON empty_t USING hnsw (v vector_l2_ops)");
        assert_eq!(check_field("empty_i", "ok"), "true");
        assert_eq!(check_field("empty_i", "elements"), "0");
    }

    /// Flips one byte of block `blk` of `index` in shared buffers (not WAL-logged: the test's
    /// transaction drops the index again).
    fn corrupt(index: &str, blk: u32, at: usize) {
        unsafe {
            let oid = Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{index}'::regclass::oid"))
                .unwrap()
                .unwrap();
            let rel = pg_sys::index_open(oid, pg_sys::AccessExclusiveLock as i32);
            let buf = pg_sys::ReadBuffer(rel, blk);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            let page = pg_sys::BufferGetPage(buf) as *mut u8;
            *page.add(at) ^= 0xFF;
            pg_sys::MarkBufferDirty(buf);
            pg_sys::UnlockReleaseBuffer(buf);
            pg_sys::index_close(rel, pg_sys::NoLock as i32);
        }
    }

    #[pg_test]
    fn index_check_reports_a_corrupted_special_area() {
        random_table("bad", 300, 4);
        run("CREATE INDEX bad_i ON bad USING hnsw (v vector_l2_ops)");
        corrupt("bad_i", 1, 8191);
        assert_eq!(check_field("bad_i", "ok"), "false");
        let problems = one_str("SELECT semvec_index_check('bad_i')->'problems'->>0");
        assert!(problems.contains("not an hnsw page"), "{problems}");
        // The rows on that page are no longer found: the table pass counts them.
        let unindexed: i64 = check_field("bad_i", "unindexed_rows").parse().unwrap();
        assert!(unindexed > 0 && unindexed < 300, "{unindexed}");
        assert_eq!(check_field("bad_i", "mismatched_rows"), "0");
    }

    #[pg_test]
    fn index_check_reports_a_corrupted_meta_page() {
        random_table("badm", 50, 4);
        run("CREATE INDEX badm_i ON badm USING hnsw (v vector_l2_ops)");
        // The meta tuple is the only tuple on block 0, at the end of the tuple space.
        corrupt("badm_i", 0, 8192 - 8 - 48);
        assert_eq!(check_field("badm_i", "ok"), "false");
        assert!(one_str("SELECT semvec_index_check('badm_i')::text").contains("wrong magic number"));
    }

    #[pg_test]
    fn index_check_rejects_what_is_not_an_hnsw_index() {
        run("CREATE TABLE other (id int PRIMARY KEY, v vector(2))");
        assert_eq!(fails_with("SELECT semvec_index_check('other')").as_deref(), Some("42809"));
        assert_eq!(fails_with("SELECT semvec_index_check('other_pkey')").as_deref(), Some("42809"));
        assert_eq!(
            fails_with("SELECT semvec_index_check(2147483000::oid::regclass)").as_deref(),
            Some("42P01")
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT semvec_index_check(NULL)::text").unwrap(),
            None,
            "STRICT"
        );
    }

    #[pg_test]
    fn index_check_is_for_the_owner_only() {
        random_table("owned", 20, 2);
        run("CREATE INDEX owned_i ON owned USING hnsw (v vector_l2_ops)");
        run("CREATE ROLE semvec_rel_reader; CREATE ROLE semvec_rel_owner; GRANT SELECT ON owned TO semvec_rel_reader");
        run("SET LOCAL ROLE semvec_rel_reader");
        assert_eq!(fails_with("SELECT semvec_index_check('owned_i')").as_deref(), Some("42501"));
        run("RESET ROLE; ALTER TABLE owned OWNER TO semvec_rel_owner; SET LOCAL ROLE semvec_rel_owner");
        assert_eq!(check_field("owned_i", "ok"), "true");
        run("RESET ROLE");
    }

    #[pg_test]
    fn roles_without_privileges_cannot_read_vectors() {
        random_table("secret", 200, 4);
        run("CREATE INDEX secret_i ON secret USING hnsw (v vector_l2_ops); ANALYZE secret");
        run("CREATE ROLE semvec_rel_nobody; CREATE ROLE semvec_rel_ids; GRANT SELECT (id, note) ON secret TO semvec_rel_ids");
        run("SET LOCAL enable_seqscan = off");
        let q = "'[1,2,3,4]'";
        let attempts = [
            "SELECT v FROM secret LIMIT 1".to_string(),
            format!("SELECT id FROM secret ORDER BY v <-> {q} LIMIT 1"),
            format!("SELECT id FROM secret ORDER BY l2_distance(v, {q}) LIMIT 1"),
            format!("SELECT id FROM secret WHERE v <-> {q} < 10"),
            "SELECT avg(v) FROM secret".to_string(),
            "SELECT vector_dims(v) FROM secret LIMIT 1".to_string(),
            "SELECT semvec_index_check('secret_i')".to_string(),
            "SELECT * FROM secret_i".to_string(),
        ];
        for role in ["semvec_rel_nobody", "semvec_rel_ids"] {
            run(&format!("SET LOCAL ROLE {role}"));
            for sql in &attempts {
                let got = fails_with(sql);
                assert!(
                    got.as_deref() == Some("42501") || (sql.contains("secret_i") && got.is_some()),
                    "{role}: {sql}: {got:?}"
                );
            }
            // Column statistics of the vector column stay hidden too.
            assert_eq!(
                one_i64("SELECT count(*) FROM pg_stats WHERE tablename = 'secret' AND attname = 'v'"),
                0
            );
            run("RESET ROLE");
        }
        // The granted columns work, through a plan that does not touch v.
        run("SET LOCAL ROLE semvec_rel_ids");
        assert_eq!(one_i64("SELECT count(*) FROM secret"), 200);
        run("RESET ROLE");
    }

    #[pg_test]
    fn row_level_security_filters_index_scans() {
        run("CREATE ROLE semvec_rel_alice; CREATE ROLE semvec_rel_bob");
        run("CREATE TABLE shared_docs (id int, owner name, v vector(2));
             INSERT INTO shared_docs SELECT i, CASE WHEN i % 2 = 0 THEN 'semvec_rel_alice' ELSE 'semvec_rel_bob' END,
                 ARRAY[i, i % 17]::vector FROM generate_series(1, 400) i;
             CREATE INDEX shared_docs_i ON shared_docs USING hnsw (v vector_l2_ops);
             ALTER TABLE shared_docs ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own_rows ON shared_docs USING (owner = current_user);
             GRANT SELECT ON shared_docs TO semvec_rel_alice, semvec_rel_bob;
             SET LOCAL enable_seqscan = off;");
        run("SET LOCAL ROLE semvec_rel_alice");
        let plan = explain("SELECT id FROM shared_docs ORDER BY v <-> '[3,3]' LIMIT 10");
        assert!(plan.contains("Index Scan using shared_docs_i"), "{plan}");
        assert_eq!(
            one_i64("SELECT count(*) FROM (SELECT id FROM shared_docs ORDER BY v <-> '[3,3]' LIMIT 10) s"),
            10
        );
        assert_eq!(
            one_i64("SELECT count(*) FROM (SELECT owner FROM shared_docs ORDER BY v <-> '[3,3]' LIMIT 50) s WHERE owner <> current_user"),
            0
        );
        run("RESET ROLE");
    }

    #[pg_test]
    fn bad_inputs_raise_their_sqlstates() {
        run("CREATE TABLE typed (v vector(3))");
        let cases: &[(&str, &str)] = &[
            // text input
            ("SELECT ''::vector", "22P02"),
            ("SELECT '['::vector", "22P02"),
            ("SELECT ']'::vector", "22P02"),
            ("SELECT '1,2'::vector", "22P02"),
            ("SELECT '[1,]'::vector", "22P02"),
            ("SELECT '[,1]'::vector", "22P02"),
            ("SELECT '[1 2]'::vector", "22P02"),
            ("SELECT '[1,2]x'::vector", "22P02"),
            ("SELECT '[[1]]'::vector", "22P02"),
            ("SELECT '[1,,2]'::vector", "22P02"),
            ("SELECT '[１]'::vector", "22P02"),
            ("SELECT '[1e400]'::vector", "22003"),
            ("SELECT '[-1e400]'::vector", "22003"),
            ("SELECT '[nan]'::vector", "22000"),
            ("SELECT '[-Infinity]'::vector", "22000"),
            ("SELECT '[]'::vector", "22000"),
            (
                "SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::vector",
                "54000",
            ),
            // type modifiers and assignment
            ("SELECT '[1,2]'::vector(3)", "22000"),
            ("INSERT INTO typed VALUES ('[1,2,3,4]')", "22000"),
            ("SELECT '[1]'::vector(0)", "22023"),
            ("SELECT '[1]'::vector(-1)", "22023"),
            ("SELECT '[1]'::vector(16001)", "22023"),
            ("CREATE TABLE two_mods (v vector(1, 2))", "22023"),
            // casts and operators
            ("SELECT ARRAY[1, NULL]::real[]::vector", "22004"),
            ("SELECT ARRAY[]::real[]::vector", "22000"),
            ("SELECT ARRAY['NaN']::real[]::vector", "22000"),
            ("SELECT ARRAY['Infinity']::float8[]::vector", "22000"),
            ("SELECT ARRAY[1e300]::float8[]::vector", "22000"),
            ("SELECT '[1,2]'::vector <=> '[1,2,3]'", "22000"),
            ("SELECT '[1,2]'::vector * '[1]'", "22000"),
            ("SELECT '[3e38]'::vector * '[10]'", "22003"),
            ("SELECT subvector('[1,2]'::vector, 3, 1)", "22000"),
            // index options, dimensions and GUCs
            ("CREATE INDEX ON typed USING hnsw (v vector_l2_ops) WITH (m = 1)", "22023"),
            ("CREATE INDEX ON typed USING hnsw (v vector_l2_ops) WITH (m = 101)", "22023"),
            (
                "CREATE INDEX ON typed USING hnsw (v vector_l2_ops) WITH (ef_construction = 3)",
                "22023",
            ),
            (
                "CREATE INDEX ON typed USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 20)",
                "22023",
            ),
            ("CREATE INDEX ON typed USING hnsw (v vector_l2_ops) WITH (bogus = 1)", "22023"),
            (
                "CREATE TABLE nodim (v vector); CREATE INDEX ON nodim USING hnsw (v vector_l2_ops)",
                "22023",
            ),
            (
                "CREATE TABLE wide (v vector(2001)); CREATE INDEX ON wide USING hnsw (v vector_l2_ops)",
                "54000",
            ),
            ("SET hnsw.ef_search = 0", "22023"),
            ("SET hnsw.ef_search = 1001", "22023"),
            ("SET hnsw.iterative_scan = 'sideways'", "22023"),
            ("SET hnsw.max_scan_tuples = 0", "22023"),
        ];
        let mut wrong = Vec::new();
        for (sql, want) in cases {
            let got = fails_with(sql);
            if got.as_deref() != Some(*want) {
                wrong.push(format!("{sql}: expected {want}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// A binary COPY file holding one row whose only field is `field`.
    fn copy_file(name: &str, field: &[u8]) -> String {
        let mut b = b"PGCOPY\n\xff\r\n\0".to_vec();
        b.extend_from_slice(&0i32.to_be_bytes()); // flags
        b.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        b.extend_from_slice(&1i16.to_be_bytes()); // one field
        b.extend_from_slice(&(field.len() as i32).to_be_bytes());
        b.extend_from_slice(field);
        b.extend_from_slice(&(-1i16).to_be_bytes()); // trailer
        let path = format!("/tmp/semvec_pgtest_{}_{name}.bin", std::process::id());
        std::fs::write(&path, b).unwrap();
        path
    }

    fn vector_field(dim: i16, unused: i16, xs: &[f32]) -> Vec<u8> {
        let mut f = dim.to_be_bytes().to_vec();
        f.extend_from_slice(&unused.to_be_bytes());
        for x in xs {
            f.extend_from_slice(&x.to_be_bytes());
        }
        f
    }

    #[pg_test]
    fn malformed_binary_vectors_are_rejected_by_recv() {
        run("CREATE TABLE bin3 (v vector(3)); CREATE TABLE binany (v vector)");
        let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
            ("short", "binany", vector_field(3, 0, &[1.0, 2.0]), "08P01"),
            ("empty", "binany", Vec::new(), "08P01"),
            ("header_only", "binany", vector_field(3, 0, &[]), "08P01"),
            ("half_float", "binany", vector_field(1, 0, &[1.0])[..6].to_vec(), "08P01"),
            ("trailing", "binany", vector_field(2, 0, &[1.0, 2.0, 3.0]), "22P03"),
            ("zero_dims", "binany", vector_field(0, 0, &[]), "22000"),
            ("negative_dims", "binany", vector_field(-1, 0, &[1.0]), "22000"),
            ("too_many_dims", "binany", vector_field(16001, 0, &[]), "54000"),
            ("unused", "binany", vector_field(1, 1, &[1.0]), "22000"),
            ("nan", "binany", vector_field(2, 0, &[1.0, f32::NAN]), "22000"),
            ("inf", "binany", vector_field(2, 0, &[f32::INFINITY, 1.0]), "22000"),
            ("neg_inf", "binany", vector_field(1, 0, &[f32::NEG_INFINITY]), "22000"),
            ("typmod", "bin3", vector_field(2, 0, &[1.0, 2.0]), "22000"),
        ];
        let mut wrong = Vec::new();
        for (name, table, field, want) in &cases {
            let path = copy_file(name, field);
            let got = fails_with(&format!("COPY {table} FROM '{path}' WITH (FORMAT binary)"));
            if got.as_deref() != Some(*want) {
                wrong.push(format!("{name}: expected {want}, got {got:?}"));
            }
            let _ = std::fs::remove_file(&path);
        }
        // The same framing with a well-formed vector loads, so the errors above are the vector's.
        let path = copy_file("good", &vector_field(3, 0, &[1.5, -2.0, 1e-7]));
        run(&format!("COPY bin3 FROM '{path}' WITH (FORMAT binary)"));
        let _ = std::fs::remove_file(&path);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert_eq!(one_str("SELECT v::text FROM bin3"), "[1.5,-2,1e-07]");
        assert_eq!(one_i64("SELECT count(*) FROM binany"), 0);
    }

    /// Functions whose attributes differ from IMMUTABLE STRICT PARALLEL SAFE on purpose:
    /// (name, volatility, strict, parallel). Type I/O, operator, cast, operator-class support and
    /// aggregate support functions may not appear here: they must be IMMUTABLE STRICT PARALLEL
    /// SAFE without exception.
    const EXCEPTIONS: &[(&str, char, bool, char)] = &[
        // index AM handlers: called once per relcache load, declared as every AM handler is
        ("hnswhandler", 'v', false, 'u'),
        ("ivfflathandler", 'v', false, 'u'),
        ("bm25handler", 'v', false, 'u'),
        // read a bm25 index's pages (statistics change with every write to it)
        ("semvec_bm25_index_stats", 's', true, 's'),
        ("semvec_bm25_index_config", 's', true, 's'),
        ("semvec_bm25_index_term_stats", 's', true, 's'),
        // bm25_query(): a per-statement memo over a plpgsql function; NULLs go to it as before
        ("bm25_query", 's', false, 's'),
        // type-info support functions the AMs call internally (pgvector declares them the same)
        ("hnsw_bit_support", 'v', false, 'u'),
        ("hnsw_halfvec_support", 'v', false, 'u'),
        ("hnsw_sparsevec_support", 'v', false, 'u'),
        ("ivfflat_bit_support", 'v', false, 'u'),
        ("ivfflat_halfvec_support", 'v', false, 'u'),
        // reads pages and the table under locks
        ("semvec_index_check", 'v', true, 'r'),
        // the model registry writes a table
        ("semvec_register_model", 'v', true, 'u'),
        ("semvec_drop_model", 'v', true, 'u'),
        ("semvec_register_installed_models", 'v', false, 'u'),
        // hybrid search: argument checks that must also see NULLs, an internal-state aggregate
        ("semvec_bm25_check_params", 'i', false, 's'),
        ("semvec_rrf_check_params", 'i', false, 's'),
        ("semvec_bm25_df_accum", 'i', false, 's'),
        ("semvec_bm25_df_final", 'i', false, 's'),
        ("semvec_bm25_df_counts_accum", 'i', false, 's'),
        ("semvec_bm25_df_counts_final", 'i', false, 's'),
    ];

    #[pg_test]
    fn every_function_has_deliberate_catalog_attributes() {
        // The extension's functions written in C.
        type CatalogRow = (String, String, String, bool, String, bool, bool, bool);
        let rows: Vec<CatalogRow> = Spi::connect(|c| {
            c.select(
                "SELECT p.oid::regprocedure::text, p.proname::text, p.provolatile::text, p.proisstrict,
                        p.proparallel::text, p.proleakproof, p.prosecdef,
                        EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%')
                 FROM pg_proc p
                 JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                 JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'semvec'
                 JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.prokind = 'f' AND l.lanname = 'c' AND p.pronamespace <> 'tests'::regnamespace
                 ORDER BY 1",
                None,
                &[],
            )
            .unwrap()
            .map(|r| {
                (
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<String>(2).unwrap().unwrap(),
                    r.get::<String>(3).unwrap().unwrap(),
                    r.get::<bool>(4).unwrap().unwrap(),
                    r.get::<String>(5).unwrap().unwrap(),
                    r.get::<bool>(6).unwrap().unwrap(),
                    r.get::<bool>(7).unwrap().unwrap(),
                    r.get::<bool>(8).unwrap().unwrap(),
                )
            })
            .collect()
        });
        assert!(rows.len() > 40, "found only {} C functions", rows.len());
        // Functions behind the type, its operators, casts, operator classes and aggregates.
        let core: Vec<String> = Spi::connect(|c| {
            c.select(
                "WITH ext AS (SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                              WHERE e.extname = 'semvec' AND d.deptype = 'e')
                 SELECT f::regprocedure::text FROM (
                     SELECT unnest(ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout]) f
                       FROM pg_type t JOIN ext ON ext.classid = 'pg_type'::regclass AND ext.objid = t.oid
                     UNION SELECT o.oprcode FROM pg_operator o JOIN ext ON ext.classid = 'pg_operator'::regclass AND ext.objid = o.oid
                     UNION SELECT c.castfunc FROM pg_cast c JOIN ext ON ext.classid = 'pg_cast'::regclass AND ext.objid = c.oid
                     UNION SELECT ap.amproc FROM pg_amproc ap JOIN pg_opfamily f ON f.oid = ap.amprocfamily
                           JOIN ext ON ext.classid = 'pg_opfamily'::regclass AND ext.objid = f.oid
                     UNION SELECT unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn])
                       FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                       JOIN ext ON ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid
                       WHERE 'vector'::regtype = ANY (p.proargtypes::oid[])
                 ) s WHERE f <> 0 ORDER BY 1",
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        });
        for must in [
            "vector_in(cstring,oid,integer)",
            "vector_recv(internal,oid,integer)",
            "l2_distance(vector,vector)",
            "vector_accum(double precision[],vector)",
        ] {
            assert!(core.iter().any(|c| c == must), "{must} not found among {core:?}");
        }
        let mut wrong = Vec::new();
        for (sig, name, vol, strict, par, leakproof, secdef, has_path) in &rows {
            let got = (vol.chars().next().unwrap(), *strict, par.chars().next().unwrap());
            let is_core = core.contains(sig);
            let want = match EXCEPTIONS.iter().find(|e| e.0 == name) {
                // Only functions the access method calls internally may deviate.
                Some(e) if is_core && !sig.contains("internal") => {
                    wrong.push(format!(
                        "{sig}: type/operator/cast/opclass/aggregate support functions allow no exception"
                    ));
                    (e.1, e.2, e.3)
                }
                Some(e) => (e.1, e.2, e.3),
                None => ('i', true, 's'),
            };
            if got != want {
                wrong.push(format!("{sig}: (volatility, strict, parallel) is {got:?}, expected {want:?}"));
            }
            if *leakproof {
                wrong.push(format!("{sig}: LEAKPROOF, yet it can raise errors that reveal its arguments"));
            }
            if *secdef && !has_path {
                wrong.push(format!("{sig}: SECURITY DEFINER without a fixed search_path"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // No function in any language is LEAKPROOF, and SECURITY DEFINER ones pin search_path.
        assert_eq!(
            one_i64(
                "SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                 AND d.deptype = 'e' JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'semvec'
                 WHERE p.proleakproof OR (p.prosecdef AND NOT EXISTS (
                     SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%'))"
            ),
            0
        );
        // Aggregates over vector run in parallel (they have combine functions).
        assert_eq!(
            one_i64(
                "SELECT count(*) FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                 WHERE 'vector'::regtype = ANY (p.proargtypes::oid[]) AND (p.proparallel <> 's' OR a.aggcombinefn = 0)"
            ),
            0
        );
    }

    /// The WAL of writes to an index page that was never initialised (a block whose extender
    /// failed or left it empty, or that another writer reached first): each such write is logged
    /// with the whole page. A delta on top of it would make redo read a page that a replica or
    /// crash recovery has as zeros or not at all, and stop with "WAL contains references to
    /// invalid pages" (the replica of tests/scenarios/filter_keys_vectors.sh did, before).
    #[pg_test]
    fn writes_to_a_never_initialised_page_are_logged_whole() {
        use crate::index::storage::{Logging, PgRelation};
        use semvec_storage::{RelationWrite, BLCKSZ};
        run("CREATE TABLE walnew_t (v vector(3)); CREATE INDEX walnew_i ON walnew_t USING hnsw (v vector_l2_ops)");
        let lsn = || one_str("SELECT pg_current_wal_insert_lsn()::text");
        let bytes = |from: &str, to: &str| one_i64(&format!("SELECT ('{to}'::pg_lsn - '{from}'::pg_lsn)::int8"));
        let start = lsn();
        let mut after = Vec::new();
        let blk = unsafe {
            let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'walnew_i'::regclass::oid").unwrap().unwrap();
            let rel = pg_sys::index_open(oid, pg_sys::RowExclusiveLock as i32);
            let r = PgRelation::new(rel, Logging::Generic);
            let (b, g) = r.extend();
            drop(g);
            after.push(lsn());
            for _ in 0..2 {
                drop(r.write(b));
                after.push(lsn());
            }
            pg_sys::index_close(rel, pg_sys::NoLock as i32);
            b
        };
        // The extension, then both writes: each a record with a whole page (a delta is ~50 bytes).
        let mut from = start.clone();
        for (i, to) in after.iter().enumerate() {
            let n = bytes(&from, to);
            assert!(
                n >= BLCKSZ as i64,
                "write {i} to the new block {blk} logged {n} bytes of WAL, not a page image"
            );
            from = to.clone();
        }
        // Where pg_walinspect is installed (not on every server semvec supports), the records
        // themselves: three on that block, each with a full-page image.
        if one_i64("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_walinspect'") == 1 {
            run("CREATE EXTENSION IF NOT EXISTS pg_walinspect");
            let end = after.last().unwrap();
            unsafe {
                pg_sys::XLogFlush(
                    one_str(&format!("SELECT ('{end}'::pg_lsn - '0/0'::pg_lsn)::text"))
                        .parse::<u64>()
                        .unwrap(),
                )
            };
            let node = one_str("SELECT pg_relation_filenode('walnew_i')::text");
            let on_block = format!(
                "FROM pg_get_wal_records_info('{start}', '{end}') WHERE resource_manager = 'Generic'
                 AND block_ref ~ '/{node}\\M.* blk {blk}\\M'"
            );
            assert_eq!(one_i64(&format!("SELECT count(*) {on_block}")), 3);
            assert_eq!(one_i64(&format!("SELECT count(*) {on_block} AND fpi_length > 0")), 3);
        }
    }
}
