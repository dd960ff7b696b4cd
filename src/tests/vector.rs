//! `#[pg_test]`s for the `vector` type.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::util::*;
    use pgrx::prelude::*;

    #[pg_test]
    fn vector_text_round_trips_in_pgvector_format() {
        assert_eq!(one_str("SELECT '[1,2,3]'::vector::text"), "[1,2,3]");
        assert_eq!(one_str("SELECT ' [ 1,  2 ,    3  ] '::vector::text"), "[1,2,3]");
        assert_eq!(one_str("SELECT '[1.23456]'::vector::text"), "[1.23456]");
        assert_eq!(one_str("SELECT '[1e-5,-0.5,1e7]'::vector::text"), "[1e-05,-0.5,1e+07]");
    }

    #[pg_test]
    fn distances_match_definitions() {
        assert_eq!(one_f64("SELECT '[0,0]'::vector <-> '[3,4]'"), 5.0);
        assert_eq!(one_f64("SELECT inner_product('[1,2]'::vector, '[3,4]')"), 11.0);
        assert_eq!(one_f64("SELECT '[1,2]'::vector <#> '[3,4]'"), -11.0);
        assert_eq!(one_f64("SELECT '[0,0]'::vector <+> '[3,4]'"), 7.0);
        assert!((one_f64("SELECT '[1,1]'::vector <=> '[-1,-1]'") - 2.0).abs() < 1e-12);
        assert!(one_f64("SELECT cosine_distance('[0,0]'::vector, '[1,1]')").is_nan());
    }

    #[pg_test]
    fn binary_send_recv_uses_pgvector_layout() {
        let hex = one_str("SELECT encode(vector_send('[1,-2]'::vector), 'hex')");
        assert_eq!(hex, "000200003f800000c0000000");
        Spi::run("CREATE TABLE copy_src (v vector(2)); INSERT INTO copy_src VALUES ('[1,-2]'), ('[0.5,1e-07]')").unwrap();
        Spi::run("COPY copy_src TO '/tmp/semvec_pgtest_copy.bin' WITH (FORMAT binary)").unwrap();
        Spi::run("CREATE TABLE copy_dst (v vector(2)); COPY copy_dst FROM '/tmp/semvec_pgtest_copy.bin' WITH (FORMAT binary)").unwrap();
        assert_eq!(
            one_str("SELECT string_agg(v::text, ' ' ORDER BY v) FROM copy_dst"),
            "[0.5,1e-07] [1,-2]"
        );
    }

    #[pg_test]
    fn bad_inputs_raise_pgvector_sqlstates() {
        let cases = [
            ("SELECT '[1,2'::vector", "22P02"),
            ("SELECT '[hello,1]'::vector", "22P02"),
            ("SELECT '[NaN,1]'::vector", "22000"),
            ("SELECT '[Infinity,1]'::vector", "22000"),
            ("SELECT '[4e38,1]'::vector", "22003"),
            ("SELECT '[]'::vector", "22000"),
            ("SELECT '[1,2,3]'::vector(2)", "22000"),
            ("SELECT '[1,2,3]'::vector(0)", "22023"),
            ("SELECT '[1,2,3]'::vector(16001)", "22023"),
            ("SELECT '[1,2]'::vector + '[3]'", "22000"),
            ("SELECT '[3e38]'::vector + '[3e38]'", "22003"),
            ("SELECT '[1,2]'::vector <-> '[3]'", "22000"),
            ("SELECT ARRAY[[1,2],[3,4]]::vector", "22000"),
            ("SELECT ARRAY[1,NULL]::vector", "22004"),
            ("SELECT array_fill(0, ARRAY[16001])::vector", "54000"),
            ("SELECT subvector('[1,2,3]'::vector, 4, 1)", "22000"),
        ];
        for (sql, want) in cases {
            assert_eq!(sqlstate_of(sql).as_deref(), Some(want), "{sql}");
        }
    }
}
