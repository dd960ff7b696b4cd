//! The C library's `strtof` and `strtol` as glibc implements them in the "C"
//! locale, which is what pgvector's input functions call: how much text they
//! consume, what value they produce, and when they report `ERANGE`.

/// What `strtof` returned for some text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtof {
    /// The converted value (0 when nothing was consumed).
    pub value: f32,
    /// Bytes consumed, including leading white space; 0 means "no conversion"
    /// (`endptr == nptr`).
    pub len: usize,
    /// `ERANGE` because a finite number rounded to ±infinity.
    pub overflow: bool,
    /// `ERANGE` because a non-zero number rounded to ±0.
    pub underflow: bool,
}

/// `isspace` in the "C" locale; also pgvector's `vector_isspace` and
/// PostgreSQL's `scanner_isspace`.
#[inline]
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// glibc `strtof(s, &end)`.
pub fn strtof(s: &[u8]) -> Strtof {
    let none = Strtof {
        value: 0.0,
        len: 0,
        overflow: false,
        underflow: false,
    };
    let mut p = 0;
    while p < s.len() && is_c_space(s[p]) {
        p += 1;
    }
    let start = p;
    let negative = match s.get(p) {
        Some(b'-') => {
            p += 1;
            true
        }
        Some(b'+') => {
            p += 1;
            false
        }
        _ => false,
    };
    let sign = |x: f32| if negative { -x } else { x };
    let rest = &s[p..];

    if starts_with_ignore_case(rest, b"inf") {
        let n = if starts_with_ignore_case(rest, b"infinity") { 8 } else { 3 };
        return Strtof {
            value: sign(f32::INFINITY),
            len: p + n,
            ..none
        };
    }
    if starts_with_ignore_case(rest, b"nan") {
        // "nan(n-char-sequence)" is consumed whole when the parenthesis closes.
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let mut q = 4;
            while q < rest.len() && (rest[q].is_ascii_alphanumeric() || rest[q] == b'_') {
                q += 1;
            }
            if rest.get(q) == Some(&b')') {
                n = q + 1;
            }
        }
        return Strtof {
            value: sign(f32::NAN),
            len: p + n,
            ..none
        };
    }
    if rest.len() >= 3 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        let hex_follows = rest[2].is_ascii_hexdigit() || (rest[2] == b'.' && rest.get(3).is_some_and(|c| c.is_ascii_hexdigit()));
        if hex_follows {
            let (value, n, overflow, underflow) = hex_float(&rest[2..]);
            return Strtof {
                value: sign(value),
                len: p + 2 + n,
                overflow,
                underflow,
            };
        }
        // Otherwise only the "0" converts, as the decimal path does below.
    }

    // Decimal: digits [. digits] [e [sign] digits], at least one mantissa digit.
    let mut q = p;
    let mut digits = 0;
    let mut nonzero = false;
    while q < s.len() && s[q].is_ascii_digit() {
        nonzero |= s[q] != b'0';
        digits += 1;
        q += 1;
    }
    if q < s.len() && s[q] == b'.' {
        q += 1;
        while q < s.len() && s[q].is_ascii_digit() {
            nonzero |= s[q] != b'0';
            digits += 1;
            q += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    if q < s.len() && (s[q] | 0x20) == b'e' {
        let mut e = q + 1;
        if e < s.len() && (s[e] == b'+' || s[e] == b'-') {
            e += 1;
        }
        if e < s.len() && s[e].is_ascii_digit() {
            while e < s.len() && s[e].is_ascii_digit() {
                e += 1;
            }
            q = e;
        }
    }
    // The scanned text is valid Rust float syntax, and Rust's parser rounds
    // correctly, as glibc does.
    let text = std::str::from_utf8(&s[start..q]).expect("ASCII");
    let value: f32 = text.parse().expect("scanned a valid decimal number");
    Strtof {
        value,
        len: q,
        overflow: value.is_infinite(),
        underflow: value == 0.0 && nonzero,
    }
}

/// Parses hexadecimal significand digits with an optional point and binary
/// exponent, rounding to nearest-even `f32` (subnormals included). Returns
/// (magnitude, bytes consumed, overflow, underflow).
fn hex_float(s: &[u8]) -> (f32, usize, bool, bool) {
    let mut p = 0;
    let mut mant: u64 = 0; // the first 60 significant bits or so
    let mut sticky = false; // any non-zero bit below `mant`
    let mut exp2: i64 = 0; // value = mant * 2^exp2 (before sticky)
    let mut seen_point = false;
    while let Some(&c) = s.get(p) {
        if c == b'.' && !seen_point {
            seen_point = true;
            p += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else { break };
        if mant >> 56 == 0 {
            mant = (mant << 4) | u64::from(d);
            if seen_point {
                exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_point {
                exp2 += 4;
            }
        }
        p += 1;
    }
    if p < s.len() && (s[p] | 0x20) == b'p' {
        let mut e = p + 1;
        let neg = match s.get(e) {
            Some(b'-') => {
                e += 1;
                true
            }
            Some(b'+') => {
                e += 1;
                false
            }
            _ => false,
        };
        if e < s.len() && s[e].is_ascii_digit() {
            let mut v: i64 = 0;
            while e < s.len() && s[e].is_ascii_digit() {
                v = (v * 10 + i64::from(s[e] - b'0')).min(1 << 40);
                e += 1;
            }
            exp2 += if neg { -v } else { v };
            p = e;
        }
    }
    if mant == 0 {
        return (0.0, p, false, false);
    }
    let mant = glibc_subnormal_hex_quirk(mant, exp2);
    let (value, overflow) = round_to_f32(mant, exp2, sticky);
    (value, p, overflow, value == 0.0)
}

/// glibc reads a hexadecimal significand as 24 bits plus a rounding bit and
/// a sticky flag; when the result is subnormal, `round_and_return` shifts
/// the 24 bits right and forgets that first rounding bit (it keeps only the
/// bits after it as sticky). So, for subnormal results only, the 25th
/// significant bit is ignored: 0x1.000001p-150 reads as 0, not 2^-149.
/// pgvector runs on glibc, so the quirk is reproduced.
fn glibc_subnormal_hex_quirk(mant: u64, exp2: i64) -> u64 {
    let bits = 64 - i64::from(mant.leading_zeros());
    let top = exp2 + bits - 1;
    if top < -126 && bits >= 25 {
        mant & !(1u64 << (bits - 25))
    } else {
        mant
    }
}

/// `mant * 2^exp2` (plus a sticky bit below `mant`) rounded to nearest-even.
fn round_to_f32(mant: u64, exp2: i64, sticky: bool) -> (f32, bool) {
    let bits = 64 - i64::from(mant.leading_zeros());
    let top = exp2 + bits - 1; // exponent of the leading bit
    if top > 127 {
        return (f32::INFINITY, true);
    }
    // Weight of the last kept bit: 24 significant bits, but never below 2^-149.
    let lsb = (top - 23).max(-149);
    let shift = lsb - exp2; // bits of `mant` to drop
    let q: u64 = if shift <= 0 {
        mant << (-shift)
    } else if shift > 64 {
        0 // below half of the smallest subnormal: rounds to zero
    } else {
        let mant = u128::from(mant);
        let q = mant >> shift;
        let rem = mant & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let up = rem > half || (rem == half && (sticky || q & 1 == 1));
        (q + u128::from(up)) as u64
    };
    // Unified encoding: for lsb = -149 this is the subnormal/smallest-normal
    // bit pattern; otherwise q has 24 bits (or 25 after rounding up, which
    // carries into the exponent field correctly).
    let encoded = (((lsb + 149) as u64) << 23) + q;
    if encoded >= 0x7F80_0000 {
        return (f32::INFINITY, true);
    }
    (f32::from_bits(encoded as u32), false)
}

/// glibc `strtol(s, &end, 10)` with 64-bit `long`: returns (value saturated
/// to `i64`, bytes consumed; 0 means no conversion).
pub fn strtol(s: &[u8]) -> (i64, usize) {
    let mut p = 0;
    while p < s.len() && is_c_space(s[p]) {
        p += 1;
    }
    let negative = match s.get(p) {
        Some(b'-') => {
            p += 1;
            true
        }
        Some(b'+') => {
            p += 1;
            false
        }
        _ => false,
    };
    let digits_start = p;
    let mut v: i128 = 0;
    while p < s.len() && s[p].is_ascii_digit() {
        v = (v * 10 + i128::from(s[p] - b'0')).min(i128::from(u64::MAX));
        p += 1;
    }
    if p == digits_start {
        return (0, 0);
    }
    let v = if negative { -v } else { v };
    (v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(s: &str) -> (f32, usize) {
        let r = strtof(s.as_bytes());
        (r.value, r.len)
    }

    #[test]
    fn decimal_extent_matches_glibc() {
        assert_eq!(conv("1.5,"), (1.5, 3));
        assert_eq!(conv("1."), (1.0, 2));
        assert_eq!(conv(".5]"), (0.5, 2));
        assert_eq!(conv("-.5"), (-0.5, 3));
        assert_eq!(conv("+7"), (7.0, 2));
        assert_eq!(conv("1e5x"), (1e5, 3));
        assert_eq!(conv("1e"), (1.0, 1));
        assert_eq!(conv("1e+"), (1.0, 1));
        assert_eq!(conv("1E-2"), (0.01, 4));
        assert_eq!(conv("1.e3"), (1000.0, 4));
        assert_eq!(conv("  \t\n42"), (42.0, 6));
        assert_eq!(conv("1a"), (1.0, 1));
        assert_eq!(strtof(b".").len, 0);
        assert_eq!(strtof(b"-").len, 0);
        assert_eq!(strtof(b"e5").len, 0);
        assert_eq!(strtof(b"").len, 0);
        assert_eq!(strtof(b"hello").len, 0);
        assert_eq!(strtof(b"- 1").len, 0);
    }

    #[test]
    fn special_spellings_match_glibc() {
        assert_eq!(conv("inf"), (f32::INFINITY, 3));
        assert_eq!(conv("-Infinity"), (f32::NEG_INFINITY, 9));
        assert_eq!(conv("INFINITE"), (f32::INFINITY, 3));
        assert_eq!(conv("infinit"), (f32::INFINITY, 3));
        let r = strtof(b"NaN,");
        assert!(r.value.is_nan() && r.len == 3);
        let r = strtof(b"nan(0x1_a)]");
        assert!(r.value.is_nan() && r.len == 10);
        let r = strtof(b"nan(oops");
        assert!(r.value.is_nan() && r.len == 3);
        assert!(!strtof(b"inf").overflow);
    }

    #[test]
    fn range_errors_match_glibc() {
        let r = strtof(b"4e38");
        assert!(r.value.is_infinite() && r.overflow && r.len == 4);
        let r = strtof(b"-1e39");
        assert_eq!(r.value, f32::NEG_INFINITY);
        assert!(r.overflow);
        let r = strtof(b"1e-46");
        assert!(r.value == 0.0 && r.value.is_sign_positive() && r.underflow);
        let r = strtof(b"-1e-46");
        assert!(r.value == 0.0 && r.value.is_sign_negative() && r.underflow);
        assert!(!strtof(b"0e-999").underflow);
        assert!(!strtof(b"0.000").underflow);
        // Denormal results are finite and non-zero: no error any caller checks.
        let r = strtof(b"1e-40");
        assert!(r.value > 0.0 && !r.underflow && !r.overflow);
        assert_eq!(strtof(b"3.4028235e38").value, f32::MAX);
        assert!(strtof(b"3.4028236e38").overflow);
        assert_eq!(strtof(b"1e-45").value, f32::from_bits(1));
        assert_eq!(strtof(b"8e-46").value, f32::from_bits(1));
        let r = strtof(b"7e-46"); // below half the smallest subnormal
        assert!(r.value == 0.0 && r.underflow && r.len == 5);
        assert!(strtof(b"1e99999999999999999999999").overflow);
        assert!(strtof(b"1e-99999999999999999999999").underflow);
    }

    #[test]
    fn hex_floats_round_like_glibc() {
        assert_eq!(conv("0x1p3"), (8.0, 5));
        assert_eq!(conv("0X1.8P1"), (3.0, 7));
        assert_eq!(conv("-0x.8"), (-0.5, 5));
        assert_eq!(conv("0xAbC"), (2748.0, 5));
        assert_eq!(conv("0x1p"), (1.0, 3));
        assert_eq!(conv("0x1p+"), (1.0, 3));
        // "0x" without hex digits converts only the leading zero.
        assert_eq!(conv("0x"), (0.0, 1));
        assert_eq!(conv("0xg"), (0.0, 1));
        assert_eq!(conv("0x.p1"), (0.0, 1));
        assert_eq!(strtof(b"0x1p-149").value, f32::from_bits(1));
        assert_eq!(strtof(b"0x1p-126").value, f32::MIN_POSITIVE);
        assert_eq!(strtof(b"0x1.fffffep127").value, f32::MAX);
        assert!(strtof(b"0x1.ffffffp127").overflow);
        assert!(strtof(b"0x1p128").overflow);
        let r = strtof(b"0x1p-151");
        assert!(r.value == 0.0 && r.underflow);
        // Exactly half the smallest subnormal rounds to even (zero); above half rounds up.
        assert_eq!(strtof(b"0x1p-150").value, 0.0);
        assert_eq!(strtof(b"0x1.0000018p-150").value, f32::from_bits(1));
        // glibc's one hexadecimal rounding quirk, reproduced.
        let r = strtof(b"0x1.000001p-150");
        assert!(r.value == 0.0 && r.underflow);
        assert_eq!(strtof(b"0x0.8000008p-149").value, 0.0);
        assert_eq!(strtof(b"0x1.000001p-149").value, f32::from_bits(1));
        assert_eq!(strtof(b"0x3p-150").value, f32::from_bits(2));
        // Ties to even in the normal range: 1 + 2^-24 -> 1, 1 + 3*2^-24 -> 1 + 2^-22.
        assert_eq!(strtof(b"0x1.000001p0").value, 1.0);
        assert_eq!(strtof(b"0x1.000003p0").value, 1.0 + f32::EPSILON * 2.0);
        // A long tail of digits only acts as a sticky bit.
        assert_eq!(strtof(b"0x1.0000010000000000000001p0").value, 1.0 + f32::EPSILON);
        assert_eq!(strtof(b"0x0.0000000000000000000000001p0").value, 2f32.powi(-100));
    }

    #[test]
    fn strtol_saturates_like_glibc() {
        assert_eq!(strtol(b"12:"), (12, 2));
        assert_eq!(strtol(b" -7"), (-7, 3));
        assert_eq!(strtol(b"+0"), (0, 2));
        assert_eq!(strtol(b"9223372036854775808"), (i64::MAX, 19));
        assert_eq!(strtol(b"-9223372036854775809"), (i64::MIN, 20));
        assert_eq!(strtol(b"99999999999999999999999999999999"), (i64::MAX, 32));
        assert_eq!(strtol(b"x"), (0, 0));
        assert_eq!(strtol(b"-"), (0, 0));
        assert_eq!(strtol(b"1.5"), (1, 1));
    }
}
