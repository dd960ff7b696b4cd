//! Property tests: text round trips, the shortest-digits rule of Ryu (the
//! algorithm PostgreSQL's f2s.c implements) checked against Rust's own
//! shortest formatting, agreement with the C library's own `strtof` /
//! `strtol`, and no panics on arbitrary input.

use half::f16;
use proptest::prelude::*;
use semvec_vector::{self as v, cnum, SparseVec};

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any decimal rendering -> (significant digits, exponent of the first one).
fn digits_exp(s: &str) -> (String, i32) {
    let s = s.trim_start_matches('-');
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap()),
        None => (s, 0),
    };
    let point = mant.find('.').unwrap_or(mant.len()) as i32;
    let all: String = mant.chars().filter(|c| *c != '.').collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_string();
    (digits, exp + point - 1 - lead as i32)
}

/// Ryu's digits against Rust's shortest `{:e}`: the same count (both are
/// shortest); where they differ, the exact value was a tie between two
/// neighbours, which Rust breaks upwards and Ryu towards an even digit.
fn check_shortest_digits(x: f32, ours: &(String, i32)) {
    let std = digits_exp(&format!("{x:e}"));
    if *ours == std {
        return;
    }
    let (o, s) = (ours.0.as_bytes(), std.0.as_bytes());
    assert_eq!(ours.1, std.1, "{x:e}: exponent");
    assert_eq!(o.len(), s.len(), "{x:e}: ours {ours:?} is not shortest ({std:?})");
    assert_eq!(&o[..o.len() - 1], &s[..s.len() - 1], "{x:e}: {ours:?} vs {std:?}");
    let (lo, ls) = (o[o.len() - 1], s[s.len() - 1]);
    assert!(
        ls == lo + 1 && lo % 2 == 0,
        "{x:e}: ours {ours:?}, std {std:?}: not an even tie-break"
    );
}

/// Checks one value: shortest digits with Ryu's tie rule, PostgreSQL's
/// layout rule, and parsing the output gives back the same bits.
fn check_format(x: f32) {
    let ours = v::f32_to_string(x);
    if x == 0.0 {
        assert_eq!(ours, if x.is_sign_negative() { "-0" } else { "0" });
    } else {
        let (d, e) = digits_exp(&ours);
        check_shortest_digits(x, &(d.clone(), e));
        let fixed = (-4..6).contains(&e);
        assert_eq!(!ours.contains('e'), fixed, "{ours}");
        if !fixed {
            // d.ddde±XX with at least two exponent digits.
            let (m, ex) = ours.trim_start_matches('-').split_once('e').unwrap();
            assert!(ex.starts_with('+') || ex.starts_with('-'));
            assert!(ex.len() >= 3);
            assert_eq!(m.len(), if d.len() > 1 { d.len() + 1 } else { 1 });
        }
        assert_eq!(ours.starts_with('-'), x < 0.0);
    }
    let back = v::parse_vector(&format!("[{ours}]")).unwrap();
    assert_eq!(back[0].to_bits(), x.to_bits(), "{ours}");
}

fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits).prop_filter("finite", |x| x.is_finite()),
        (0u32..0x0080_0000).prop_map(f32::from_bits), // subnormals and +0
        (0u32..0x0080_0000).prop_map(|b| -f32::from_bits(b)),
        (-(1i32 << 24)..(1 << 24)).prop_map(|i| i as f32),
        -1.0e7f32..1.0e7,
    ]
}

proptest! {
    #![proptest_config(cfg(20_000))]

    #[test]
    fn formatting_is_shortest_with_even_ties_and_round_trips(x in finite_f32()) {
        check_format(x);
    }
}

#[test]
fn exact_ties_round_to_even_like_postgres() {
    // 3922369.25 is exactly between 3922369.2 and 3922369.3.
    let tie = f32::from_bits(0x4A6F_6705);
    assert_eq!(f64::from(tie), 3922369.25);
    assert_eq!(v::f32_to_string(tie), "3.9223692e+06");
    assert_eq!(v::f32_to_string(-tie), "-3.9223692e+06");
}

#[test]
fn formatting_boundaries_are_shortest_and_round_trip() {
    let mut values = vec![
        1e-5,
        1e-4,
        9.999999e-5,
        0.0001,
        123456.0,
        999999.0,
        999999.5,
        1e6,
        1234567.0,
        16777215.0,
        16777216.0,
        3.4028235e38,
        1.1754944e-38,
        1e-45,
        0.1,
        0.3,
        2.0 / 3.0,
        100.0,
        1e10,
        5e-324f64 as f32,
    ];
    for e in -46..=39 {
        let p = 10f64.powi(e) as f32;
        values.extend([p, f32::from_bits(p.to_bits().wrapping_sub(1)), f32::from_bits(p.to_bits() + 1)]);
    }
    for x in values.into_iter().filter(|x| x.is_finite()) {
        check_format(x);
        check_format(-x);
    }
}

/// All 2^31 positive finite values (negatives only add a sign); a few
/// minutes in release. Run with
/// `cargo test -p semvec-vector --release --test props -- --ignored`.
#[test]
#[ignore]
fn formatting_is_shortest_and_round_trips_for_every_f32() {
    let mut ours = String::new();
    for bits in 1..0x7F80_0000u32 {
        let x = f32::from_bits(bits);
        ours.clear();
        v::format_f32(x, &mut ours);
        check_shortest_digits(x, &digits_exp(&ours));
        let back = cnum::strtof(ours.as_bytes());
        assert_eq!(back.value.to_bits(), bits, "{ours}");
    }
}

#[test]
fn every_finite_half_round_trips_through_text() {
    for bits in 0..=u16::MAX {
        let h = f16::from_bits(bits);
        if !h.is_finite() {
            continue;
        }
        let mut s = String::new();
        v::format_halfvec(&[h], &mut s);
        let back = v::parse_halfvec(&s).unwrap();
        assert_eq!(back[0].to_bits(), bits, "{s}");
    }
}

proptest! {
    #![proptest_config(cfg(600))]

    #[test]
    fn vector_text_round_trips_bit_exactly(vals in proptest::collection::vec(finite_f32(), 1..200)) {
        let mut s = String::new();
        v::format_vector(&vals, &mut s);
        let back = v::parse_vector(&s).unwrap();
        prop_assert_eq!(back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), vals.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        let bin = v::binary::vector_send(&vals);
        prop_assert_eq!(v::binary::vector_recv(&bin, -1).unwrap().0.len(), vals.len());
    }

    #[test]
    fn sparsevec_text_round_trips(
        (dim, entries) in (1i32..1_000_000_000).prop_flat_map(|d| (
            Just(d),
            proptest::collection::btree_map(0..d, finite_f32().prop_filter("non-zero", |x| *x != 0.0), 0..50),
        ))
    ) {
        let sv = SparseVec { dim, indices: entries.keys().copied().collect(), values: entries.values().copied().collect() };
        let mut s = String::new();
        v::format_sparsevec(&sv, &mut s);
        let back = v::parse_sparsevec(&s).unwrap();
        prop_assert_eq!(&back.indices, &sv.indices);
        prop_assert_eq!(back.dim, sv.dim);
        prop_assert_eq!(back.values.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), sv.values.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        let (bin, _) = v::binary::sparsevec_recv(&v::binary::sparsevec_send(&sv), -1).unwrap();
        prop_assert_eq!(bin, sv);
    }

    #[test]
    fn sparsevec_parse_sorts_any_permutation(
        perm in Just((1..=20).collect::<Vec<i32>>()).prop_shuffle()
    ) {
        let text = format!("{{{}}}/20", perm.iter().map(|i| format!("{i}:{i}")).collect::<Vec<_>>().join(","));
        let sv = v::parse_sparsevec(&text).unwrap();
        prop_assert_eq!(sv.indices, (0..20).collect::<Vec<i32>>());
        prop_assert_eq!(sv.values, (1..=20).map(|i| i as f32).collect::<Vec<f32>>());
    }
}

// ---------------------------------------------------------------------------
// No input makes the parsers panic.

fn vectorish() -> impl Strategy<Value = String> {
    // Mostly the characters the grammars care about, so that deep paths run.
    proptest::string::string_regex(r"[ \t\n\[\]{}:/,0-9.eEpPxX+\-aAfFiInNtTyY()_\x00\x0b\x0c\r]{0,40}").unwrap()
}

proptest! {
    #![proptest_config(cfg(12_000))]

    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in any::<String>()) {
        let _ = v::parse_vector(&s);
        let _ = v::parse_halfvec(&s);
        let _ = v::parse_sparsevec(&s);
    }

    #[test]
    fn parsers_never_panic_on_vector_like_strings(s in vectorish()) {
        for wrapped in [s.clone(), format!("[{s}]"), format!("{{{s}}}/5"), format!("[1,{s}")] {
            if let Ok(vals) = v::parse_vector(&wrapped) {
                prop_assert!(vals.iter().all(|x| x.is_finite()) && !vals.is_empty());
            }
            if let Ok(vals) = v::parse_halfvec(&wrapped) {
                prop_assert!(vals.iter().all(|x| x.is_finite()) && !vals.is_empty());
            }
            if let Ok(sv) = v::parse_sparsevec(&wrapped) {
                prop_assert!(sv.dim >= 1);
                prop_assert!(sv.indices.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(sv.indices.iter().all(|&i| i >= 0 && i < sv.dim));
                prop_assert!(sv.values.iter().all(|&x| x != 0.0 && x.is_finite()));
            }
        }
    }

    #[test]
    fn binary_receivers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), typmod in -1i32..5) {
        let _ = v::binary::vector_recv(&bytes, typmod);
        let _ = v::binary::halfvec_recv(&bytes, typmod);
        let _ = v::binary::sparsevec_recv(&bytes, typmod);
    }
}

// ---------------------------------------------------------------------------
// Differential tests against the C library itself (glibc, "C" locale).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod against_glibc {
    use super::*;
    use std::ffi::{c_char, c_int, c_long, CString};

    extern "C" {
        fn strtof(s: *const c_char, end: *mut *mut c_char) -> f32;
        fn strtol(s: *const c_char, end: *mut *mut c_char, base: c_int) -> c_long;
        fn __errno_location() -> *mut c_int;
    }
    const ERANGE: c_int = 34;

    fn glibc_strtof(s: &str) -> (f32, usize, bool) {
        let c = CString::new(s).unwrap();
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `c` is a valid NUL-terminated string; errno is thread-local.
        unsafe {
            *__errno_location() = 0;
            let v = strtof(c.as_ptr(), &mut end);
            let erange = *__errno_location() == ERANGE;
            (v, end.offset_from(c.as_ptr()) as usize, erange)
        }
    }

    fn glibc_strtol(s: &str) -> (i64, usize) {
        let c = CString::new(s).unwrap();
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: as above.
        unsafe {
            let v = strtol(c.as_ptr(), &mut end, 10);
            (v as i64, end.offset_from(c.as_ptr()) as usize)
        }
    }

    fn check(s: &str) {
        let ours = cnum::strtof(s.as_bytes());
        let (value, len, erange) = glibc_strtof(s);
        assert_eq!(ours.len, len, "extent of {s:?}");
        if value.is_nan() {
            assert!(ours.value.is_nan(), "{s:?}");
        } else {
            assert_eq!(
                ours.value.to_bits(),
                value.to_bits(),
                "value of {s:?}: ours {:e}, glibc {value:e}",
                ours.value
            );
        }
        // glibc also flags inexact subnormal results; callers only look at
        // ERANGE together with an infinite or zero value, which must agree.
        if value.is_infinite() || value == 0.0 {
            assert_eq!(ours.overflow || ours.underflow, erange, "ERANGE of {s:?}");
        }
    }

    fn numberish() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::string::string_regex(r"[ \t]?[+\-]?[0-9]{0,12}(\.[0-9]{0,12})?([eE][+\-]?[0-9]{0,3})?[,\]x]?").unwrap(),
            proptest::string::string_regex(r"[+\-]?0[xX][0-9a-fA-F]{0,20}(\.[0-9a-fA-F]{0,20})?([pP][+\-]?[0-9]{0,4})?").unwrap(),
            proptest::string::string_regex(r"[+\-]?([iI][nN][fF]([iI][nN][iI][tT][yY]?)?|[nN][aA][nN](\([a-z0-9_]{0,4}\)?)?)[a-z]?")
                .unwrap(),
            proptest::string::string_regex(r"[0-9]{1,3}[eE][+\-]?(3[0-9]|4[0-9])").unwrap(),
            any::<f32>().prop_map(|x| format!("{x:e}")),
            any::<f64>().prop_map(|x| format!("{x:e}")),
            any::<f64>().prop_map(|x| format!("{x}")),
            (any::<u32>(), -160i32..140).prop_map(|(m, e)| format!("{m:#x}p{e}")),
        ]
    }

    proptest! {
        #![proptest_config(cfg(30_000))]

        #[test]
        fn strtof_agrees_with_glibc(s in numberish()) {
            check(&s);
        }

        #[test]
        fn strtol_agrees_with_glibc(s in proptest::string::string_regex(r"[ \t]{0,2}[+\-]?[0-9]{0,25}[:/a]?").unwrap()) {
            prop_assert_eq!(cnum::strtol(s.as_bytes()), glibc_strtol(&s));
        }
    }

    /// Hexadecimal significands of every width around the subnormal and
    /// overflow boundaries, where rounding has the most special cases.
    #[test]
    fn strtof_agrees_with_glibc_on_hex_rounding_boundaries() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let width = next() % 64 + 1;
            let mut m = next() >> (64 - width);
            // Sparse bit patterns hit exact ties and lone sticky bits.
            if next() % 2 == 0 {
                m &= next() & next();
            }
            let e = match next() % 3 {
                0 => -((next() % 120) as i64) - 120 - width as i64,
                1 => 128 - width as i64 + (next() % 6) as i64 - 3,
                _ => (next() % 300) as i64 - 150,
            };
            check(&format!("{m:#x}p{e}"));
            check(&format!("0x0.{m:016x}p{}", e + 64));
        }
    }

    /// Exact decimal expansions of the midpoints between neighbouring `f32`
    /// values (exact in `f64`), and of the `f64` values just around them:
    /// the ties and near-ties of decimal rounding, subnormals included.
    #[test]
    fn strtof_agrees_with_glibc_on_decimal_midpoints() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for k in 0..20_000 {
            let bits = if k % 2 == 0 {
                (next() % 0x0100_0000) as u32
            } else {
                (next() % 0x7F7F_FFFF) as u32
            };
            let lo = f64::from(f32::from_bits(bits));
            let hi = f64::from(f32::from_bits(bits + 1));
            let mid = (lo + hi) / 2.0;
            for m in [mid, f64::from_bits(mid.to_bits() - 1), f64::from_bits(mid.to_bits() + 1)] {
                check(&format!("{m:.800e}"));
                check(&format!("{m:e}"));
            }
        }
    }

    #[test]
    fn strtof_agrees_with_glibc_on_edge_cases() {
        for s in [
            "", "-", "+", ".", "e5", "1e", "1e+", "1.e3", ".5", "-.5e-3", "inf", "-INFINITY", "infinit", "nan", "nan()",
            "nan(abc_1)", "nan(", "nan(a b)", "0x", "0x.", "0x.p1", "0xg", "0x1p", "0x1.8p1", "0x1p-149", "0x1p-150",
            "0x1.000001p-150", "0x3p-150", "0x1p128", "0x1.fffffep127", "0x1.ffffffp127", "1e-46", "-1e-46", "7e-46",
            "8e-46", "1e-45", "4e38", "3.4028235e38", "3.40282357e38", "3.4028236e38", "1e-40", "0e-999", "0.000",
            "00000000000000000000000001", "1e99999999999999999999", "1e-99999999999999999999",
            "0.000000000000000000000000000000000000000000000700649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015625",
            "0.000000000000000000000000000000000000000000000700649232162408535461864791644958065640130970938257885878534141944895541342930300743319094181060791015626",
        ] {
            check(s);
        }
    }
}
