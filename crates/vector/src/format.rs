//! Text output exactly as pgvector writes it. Elements use PostgreSQL's
//! `float_to_shortest_decimal_bufn` (src/common/f2s.c): the shortest digit
//! string that reads back to the same `f32`, printed in fixed notation when
//! the decimal exponent is in [-4, 6) and as `d.ddde±XX` otherwise. Output
//! does not depend on `extra_float_digits`.

use crate::sparse::SparseVec;
use half::f16;
use std::fmt::Write;

/// Appends `x` as PostgreSQL's `float_to_shortest_decimal_bufn` prints it:
/// `1`, `-0`, `0.0001`, `123456`, `1.234567e+06`, `1e-05`, `3.4028235e+38`,
/// `NaN`, `Infinity`, `-Infinity`.
pub fn format_f32(x: f32, out: &mut String) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Ryu, the algorithm f2s.c implements: shortest round-trip digits,
    // closest to the exact value, exact ties to an even last digit (Rust's
    // own `{:e}` breaks such ties upwards, so it cannot be used here).
    let mut ryu = ryu::Buffer::new();
    let (digits, n, exp) = decimal_digits(ryu.format_finite(x.abs()));
    let digits = std::str::from_utf8(&digits[..n]).expect("ASCII");

    if x.is_sign_negative() {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(digits);
        } else {
            let int_len = exp as usize + 1;
            if n <= int_len {
                out.push_str(digits);
                for _ in n..int_len {
                    out.push('0');
                }
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        // Two digits at least; f32 exponents never need more.
        write!(out, "{:02}", exp.unsigned_abs()).expect("String");
    }
}

/// `[1,2,3]`, as `vector_out` writes it.
pub fn format_vector(v: &[f32], out: &mut String) {
    out.reserve(v.len() * 8 + 2);
    out.push('[');
    for (i, &x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_f32(x, out);
    }
    out.push(']');
}

/// `[1,2,3]`, as `halfvec_out` writes it: each element widened to `f32` and
/// printed with the shortest `f32` representation (`1.234375`, not `1.234`).
pub fn format_halfvec(v: &[f16], out: &mut String) {
    out.reserve(v.len() * 8 + 2);
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_f32(x.to_f32(), out);
    }
    out.push(']');
}

/// `{1:1.5,3:2}/5`, as `sparsevec_out` writes it (indices 1-based).
pub fn format_sparsevec(v: &SparseVec, out: &mut String) {
    out.reserve(v.indices.len() * 12 + 14);
    out.push('{');
    for (k, (&i, &x)) in v.indices.iter().zip(&v.values).enumerate() {
        if k > 0 {
            out.push(',');
        }
        write!(out, "{}", i64::from(i) + 1).expect("String");
        out.push(':');
        format_f32(x, out);
    }
    out.push_str("}/");
    write!(out, "{}", v.dim).expect("String");
}

/// Significant digits (no leading or trailing zeros) and the decimal
/// exponent of the first one, from any plain or scientific rendering.
fn decimal_digits(text: &str) -> ([u8; 24], usize, i32) {
    let (mant, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().expect("exponent")),
        None => (text, 0),
    };
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut int_digits = 0i32; // digits before the point, leading zeros included
    let mut leading_zeros = 0i32;
    let mut seen_point = false;
    for &c in mant.as_bytes() {
        if c == b'.' {
            seen_point = true;
            continue;
        }
        if !seen_point {
            int_digits += 1;
        }
        if n == 0 && c == b'0' {
            leading_zeros += 1;
            continue;
        }
        digits[n] = c;
        n += 1;
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    (digits, n, exp + int_digits - 1 - leading_zeros)
}

/// Convenience: [`format_f32`] into a new `String`.
pub fn f32_to_string(x: f32) -> String {
    let mut s = String::new();
    format_f32(x, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f32) -> String {
        f32_to_string(x)
    }

    #[test]
    fn fixed_notation_covers_exponents_minus_4_to_5() {
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-1.0), "-1");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1.23456), "1.23456");
        assert_eq!(f(1e-4), "0.0001");
        assert_eq!(f(1.5e-4), "0.00015");
        assert_eq!(f(-0.00012345), "-0.00012345");
        assert_eq!(f(123456.0), "123456");
        assert_eq!(f(100000.0), "100000");
        assert_eq!(f(123456.5), "123456.5");
        assert_eq!(f(999999.0), "999999");
        assert_eq!(f(12.5), "12.5");
        assert_eq!(f(65504.0), "65504");
        assert_eq!(f(1.234375), "1.234375");
    }

    #[test]
    fn scientific_notation_outside_that_range() {
        assert_eq!(f(1e-5), "1e-05");
        assert_eq!(f(1.5e-5), "1.5e-05");
        assert_eq!(f(9.9999e-5), "9.9999e-05");
        assert_eq!(f(1e6), "1e+06");
        assert_eq!(f(1234567.0), "1.234567e+06");
        assert_eq!(f(16777215.0), "1.6777215e+07");
        assert_eq!(f(1e7), "1e+07");
        assert_eq!(f(1.5e38), "1.5e+38");
        assert_eq!(f(-1.5e-38), "-1.5e-38");
        assert_eq!(f(3e38), "3e+38");
        assert_eq!(f(f32::MAX), "3.4028235e+38");
        assert_eq!(f(f32::MIN_POSITIVE), "1.1754944e-38");
        assert_eq!(f(f32::from_bits(1)), "1e-45");
        assert_eq!(f(-f32::from_bits(1)), "-1e-45");
        assert_eq!(f(f32::from_bits(0x007F_FFFF)), "1.1754942e-38");
        assert_eq!(f(5e37), "5e+37");
    }

    #[test]
    fn special_values_print_like_postgres() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(f32::NAN), "NaN");
        assert_eq!(f(f32::INFINITY), "Infinity");
        assert_eq!(f(f32::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn containers_print_like_pgvector() {
        let mut s = String::new();
        format_vector(&[1.0, 2.0, 3.0], &mut s);
        assert_eq!(s, "[1,2,3]");
        s.clear();
        format_vector(&[1.5e38, -1.5e38], &mut s);
        assert_eq!(s, "[1.5e+38,-1.5e+38]");
        s.clear();
        format_halfvec(&[f16::from_f32(1.23456), f16::from_f32(-65504.0)], &mut s);
        assert_eq!(s, "[1.234375,-65504]");
        s.clear();
        format_sparsevec(
            &SparseVec {
                dim: 5,
                indices: vec![0, 2],
                values: vec![1.5, 2.0],
            },
            &mut s,
        );
        assert_eq!(s, "{1:1.5,3:2}/5");
        s.clear();
        format_sparsevec(
            &SparseVec {
                dim: 1_000_000_000,
                indices: vec![],
                values: vec![],
            },
            &mut s,
        );
        assert_eq!(s, "{}/1000000000");
    }
}
