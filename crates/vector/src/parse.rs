//! Text input with pgvector's exact acceptance rules and error order:
//! `[1,2,3]` for `vector` and `halfvec`, `{1:1.5,3:2}/5` for `sparsevec`.
//! Numbers are read with C `strtof` semantics ([`crate::cnum`]), white space
//! is the "C" locale's `isspace`, and input ends at the first NUL byte as it
//! would in a C string.

use crate::checks::{check_dim, check_element_f16, check_element_for, check_expected_dim, check_sparse_index};
use crate::cnum::{is_c_space, strtof, strtol, Strtof};
use crate::error::{sqlstate, VecError};
use crate::sparse::SparseVec;
use crate::{HALFVEC_MAX_DIM, SPARSEVEC_MAX_NNZ, VECTOR_MAX_DIM};
use half::f16;

fn c_string(s: &str) -> &str {
    match s.find('\0') {
        Some(nul) => &s[..nul],
        None => s,
    }
}

fn skip_space(b: &[u8], mut p: usize) -> usize {
    while p < b.len() && is_c_space(b[p]) {
        p += 1;
    }
    p
}

fn out_of_range(typname: &str, number: &str) -> VecError {
    VecError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{number}\" is out of range for type {typname}"),
    )
}

/// The shared `[x, y, ...]` grammar of `vector_in` and `halfvec_in`;
/// `element` turns one `strtof` result (and its text) into an element or an
/// error.
fn parse_dense<T>(
    typname: &str,
    max_dim: usize,
    input: &str,
    typmod: i32,
    mut element: impl FnMut(Strtof, &str) -> Result<T, VecError>,
) -> Result<Vec<T>, VecError> {
    let lit = c_string(input);
    let b = lit.as_bytes();
    let mut p = skip_space(b, 0);
    if b.get(p) != Some(&b'[') {
        return Err(VecError::syntax(typname, lit).with_detail("Vector contents must start with \"[\"."));
    }
    p = skip_space(b, p + 1);
    if b.get(p) == Some(&b']') {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            format!("{typname} must have at least 1 dimension"),
        ));
    }
    let mut out = Vec::new();
    loop {
        if out.len() == max_dim {
            return Err(VecError::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("{typname} cannot have more than {max_dim} dimensions"),
            ));
        }
        p = skip_space(b, p);
        if p == b.len() {
            return Err(VecError::syntax(typname, lit));
        }
        let r = strtof(&b[p..]);
        if r.len == 0 {
            return Err(VecError::syntax(typname, lit));
        }
        out.push(element(r, &lit[p..p + r.len])?);
        p = skip_space(b, p + r.len);
        match b.get(p) {
            Some(b',') => p += 1,
            Some(b']') => {
                p += 1;
                break;
            }
            _ => return Err(VecError::syntax(typname, lit)),
        }
    }
    p = skip_space(b, p);
    if p != b.len() {
        return Err(VecError::syntax(typname, lit).with_detail("Junk after closing right brace."));
    }
    check_dim(typname, out.len(), max_dim)?;
    check_expected_dim(typmod, out.len())?;
    Ok(out)
}

/// `vector_in` without a type modifier.
pub fn parse_vector(s: &str) -> Result<Vec<f32>, VecError> {
    parse_vector_typmod(s, -1)
}

/// `vector_in(s, typmod)`: parses, then checks the dimension against `typmod`
/// (-1 for none), in pgvector's order.
pub fn parse_vector_typmod(s: &str, typmod: i32) -> Result<Vec<f32>, VecError> {
    parse_dense("vector", VECTOR_MAX_DIM, s, typmod, |r, text| {
        if r.overflow {
            return Err(out_of_range("vector", text));
        }
        check_element_for("vector", r.value)?;
        Ok(r.value)
    })
}

/// `halfvec_in` without a type modifier.
pub fn parse_halfvec(s: &str) -> Result<Vec<f16>, VecError> {
    parse_halfvec_typmod(s, -1)
}

/// `halfvec_in(s, typmod)`: each number is read as `f32` and rounded to
/// nearest-even half precision; a finite number that rounds past ±65504
/// (e.g. 65520) is out of range (22003).
pub fn parse_halfvec_typmod(s: &str, typmod: i32) -> Result<Vec<f16>, VecError> {
    parse_dense("halfvec", HALFVEC_MAX_DIM, s, typmod, |r, text| {
        let h = f16::from_f32(r.value);
        if r.overflow || (h.is_infinite() && !r.value.is_infinite()) {
            return Err(out_of_range("halfvec", text));
        }
        check_element_f16(h)?;
        Ok(h)
    })
}

/// `sparsevec_in` without a type modifier.
pub fn parse_sparsevec(s: &str) -> Result<SparseVec, VecError> {
    parse_sparsevec_typmod(s, -1)
}

/// `sparsevec_in(s, typmod)`: `{index:value,...}/dim` with 1-based indices
/// in any order. Zero values are dropped (even with an out-of-range index),
/// the rest sorted; then indices are checked for bounds and duplicates.
pub fn parse_sparsevec_typmod(s: &str, typmod: i32) -> Result<SparseVec, VecError> {
    const T: &str = "sparsevec";
    let lit = c_string(s);
    let b = lit.as_bytes();

    // pgvector sizes its buffer by counting commas before parsing anything.
    let max_nnz = b.iter().filter(|&&c| c == b',').count() + 1;
    if max_nnz > SPARSEVEC_MAX_NNZ {
        return Err(VecError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("sparsevec cannot have more than {SPARSEVEC_MAX_NNZ} non-zero elements"),
        ));
    }

    let mut p = skip_space(b, 0);
    if b.get(p) != Some(&b'{') {
        return Err(VecError::syntax(T, lit).with_detail("Vector contents must start with \"{\"."));
    }
    p = skip_space(b, p + 1);
    let mut elements: Vec<(i32, f32)> = Vec::new();
    if b.get(p) == Some(&b'}') {
        p += 1;
    } else {
        let mut count = 0usize;
        loop {
            if count == max_nnz {
                return Err(VecError::new(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!("ran out of buffer: \"{lit}\""),
                ));
            }
            p = skip_space(b, p);
            if p == b.len() {
                return Err(VecError::syntax(T, lit));
            }
            let (index, n) = strtol(&b[p..]);
            if n == 0 {
                return Err(VecError::syntax(T, lit));
            }
            // Kept in int range so that the bounds check reports it.
            let index = index.clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX)) as i32;
            p = skip_space(b, p + n);
            if b.get(p) != Some(&b':') {
                return Err(VecError::syntax(T, lit));
            }
            p = skip_space(b, p + 1);
            let r = strtof(&b[p..]);
            if r.len == 0 {
                return Err(VecError::syntax(T, lit));
            }
            if r.overflow || r.underflow {
                return Err(out_of_range(T, &lit[p..p + r.len]));
            }
            check_element_for(T, r.value)?;
            if r.value != 0.0 {
                elements.push((index - 1, r.value));
                count += 1;
            }
            p = skip_space(b, p + r.len);
            match b.get(p) {
                Some(b',') => p += 1,
                Some(b'}') => {
                    p += 1;
                    break;
                }
                _ => return Err(VecError::syntax(T, lit)),
            }
        }
    }
    p = skip_space(b, p);
    if b.get(p) != Some(&b'/') {
        return Err(VecError::syntax(T, lit).with_detail("Unexpected end of input."));
    }
    p = skip_space(b, p + 1);
    let (dim, n) = strtol(&b[p..]);
    if n == 0 {
        return Err(VecError::syntax(T, lit));
    }
    let dim = dim.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    p = skip_space(b, p + n);
    if p != b.len() {
        return Err(VecError::syntax(T, lit).with_detail("Junk after closing."));
    }
    crate::checks::check_sparsevec_dim(dim)?;
    check_expected_dim(typmod, dim as usize)?;

    elements.sort_by_key(|&(i, _)| i);
    let indices: Vec<i32> = elements.iter().map(|&(i, _)| i).collect();
    for i in 0..indices.len() {
        check_sparse_index(&indices, i, dim)?;
    }
    Ok(SparseVec {
        dim,
        indices,
        values: elements.into_iter().map(|(_, v)| v).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug, VecError>) -> (String, String, Option<String>) {
        let e = r.unwrap_err();
        (e.code.to_string(), e.message, e.detail)
    }

    fn syntax(t: &str, lit: &str) -> (String, String, Option<String>) {
        ("22P02".into(), format!("invalid input syntax for type {t}: \"{lit}\""), None)
    }

    #[test]
    fn vector_accepts_what_pgvector_accepts() {
        assert_eq!(parse_vector("[1,2,3]").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_vector("[-1,-2,-3]").unwrap(), vec![-1.0, -2.0, -3.0]);
        assert_eq!(parse_vector("[1.,2.,3.]").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_vector(" [ 1,  2 ,    3  ] ").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_vector("\t\n\x0b\x0c\r[1]\r\n").unwrap(), vec![1.0]);
        assert_eq!(parse_vector("[1.23456]").unwrap(), vec![1.23456]);
        assert_eq!(parse_vector("[1.5e38,-1.5e38]").unwrap(), vec![1.5e38, -1.5e38]);
        assert_eq!(parse_vector("[1.5e+38,-1.5e+38]").unwrap(), vec![1.5e38, -1.5e38]);
        assert_eq!(parse_vector("[1.5e-38,-1.5e-38]").unwrap(), vec![1.5e-38, -1.5e-38]);
        let v = parse_vector("[1e-46,-1e-46]").unwrap();
        assert!(v[0] == 0.0 && v[0].is_sign_positive() && v[1].is_sign_negative());
        assert_eq!(parse_vector("[0x1p3,+.5]").unwrap(), vec![8.0, 0.5]);
        assert_eq!(parse_vector("[1e-40]").unwrap(), vec![1e-40]);
        // Input ends at a NUL, as the C string would.
        assert_eq!(parse_vector("[1]\0junk").unwrap(), vec![1.0]);
    }

    #[test]
    fn vector_rejects_malformed_input_with_pgvector_errors() {
        assert_eq!(err(parse_vector("[hello,1]")), syntax("vector", "[hello,1]"));
        for lit in [
            "[1,2,3", "[", "[ ", "[,", "[,]", "[1,]", "[1a]", "[1,,3]", "[1, ,3]", "[1 2]", "[-]", "[.]", "[1e]x",
        ] {
            assert_eq!(err(parse_vector(lit)), syntax("vector", lit), "{lit}");
        }
        let mut junk = syntax("vector", "[1,2,3]9");
        junk.2 = Some("Junk after closing right brace.".into());
        assert_eq!(err(parse_vector("[1,2,3]9")), junk);
        for lit in ["1,2,3", "", "  ", "{1}"] {
            let mut e = syntax("vector", lit);
            e.2 = Some("Vector contents must start with \"[\".".into());
            assert_eq!(err(parse_vector(lit)), e);
        }
        for lit in ["[]", "[ ]", " [\t] "] {
            assert_eq!(
                err(parse_vector(lit)),
                ("22000".into(), "vector must have at least 1 dimension".into(), None)
            );
        }
        assert_eq!(
            err(parse_vector("[NaN,1]")),
            ("22000".into(), "NaN not allowed in vector".into(), None)
        );
        assert_eq!(err(parse_vector("[nan(123)]")).1, "NaN not allowed in vector");
        assert_eq!(
            err(parse_vector("[Infinity,1]")),
            ("22000".into(), "infinite value not allowed in vector".into(), None)
        );
        assert_eq!(err(parse_vector("[-inf,1]")).1, "infinite value not allowed in vector");
        // "infinit" reads as "inf" followed by junk; the element check comes first.
        assert_eq!(err(parse_vector("[infinit]")).1, "infinite value not allowed in vector");
        assert_eq!(err(parse_vector("[1x]")), syntax("vector", "[1x]"));
        assert_eq!(
            err(parse_vector("[4e38,1]")),
            ("22003".into(), "\"4e38\" is out of range for type vector".into(), None)
        );
        assert_eq!(err(parse_vector("[1, -4e38]")).1, "\"-4e38\" is out of range for type vector");
        assert_eq!(err(parse_vector("[0x1p200]")).1, "\"0x1p200\" is out of range for type vector");
    }

    #[test]
    fn vector_dimension_limits() {
        let ok = format!("[{}]", vec!["0"; 16000].join(","));
        assert_eq!(parse_vector(&ok).unwrap().len(), 16000);
        let too_many = format!("[{}]", vec!["0"; 16001].join(","));
        assert_eq!(
            err(parse_vector(&too_many)),
            ("54000".into(), "vector cannot have more than 16000 dimensions".into(), None)
        );
        // The limit is hit before the syntax error that follows it.
        let bad_tail = format!("[{},x]", vec!["0"; 16000].join(","));
        assert_eq!(err(parse_vector(&bad_tail)).0, "54000");
        assert_eq!(parse_vector_typmod("[1,2,3]", 3).unwrap().len(), 3);
        assert_eq!(
            err(parse_vector_typmod("[1,2,3]", 2)),
            ("22000".into(), "expected 2 dimensions, not 3".into(), None)
        );
    }

    #[test]
    fn halfvec_rounds_and_range_checks_like_pgvector() {
        let h = |x: f32| f16::from_f32(x);
        assert_eq!(parse_halfvec("[1,2,3]").unwrap(), vec![h(1.0), h(2.0), h(3.0)]);
        assert_eq!(parse_halfvec("[1.23456]").unwrap(), vec![h(1.234375)]);
        assert_eq!(parse_halfvec("[65519,-65519]").unwrap(), vec![f16::MAX, f16::MIN]);
        assert_eq!(
            err(parse_halfvec("[65520,-65520]")),
            ("22003".into(), "\"65520\" is out of range for type halfvec".into(), None)
        );
        assert_eq!(err(parse_halfvec("[1,-65520]")).1, "\"-65520\" is out of range for type halfvec");
        assert_eq!(err(parse_halfvec("[4e38,1]")).1, "\"4e38\" is out of range for type halfvec");
        let v = parse_halfvec("[1e-8,-1e-8]").unwrap();
        assert!(v[0].to_f32() == 0.0 && v[1].is_sign_negative());
        assert_eq!(parse_halfvec("[1e-46,1]").unwrap(), vec![h(0.0), h(1.0)]);
        assert_eq!(err(parse_halfvec("[NaN,1]")).1, "NaN not allowed in halfvec");
        assert_eq!(err(parse_halfvec("[-Infinity,1]")).1, "infinite value not allowed in halfvec");
        assert_eq!(err(parse_halfvec("[]")).1, "halfvec must have at least 1 dimension");
        assert_eq!(err(parse_halfvec("[hello,1]")), syntax("halfvec", "[hello,1]"));
        assert_eq!(err(parse_halfvec("[1,2,3]9")).2.as_deref(), Some("Junk after closing right brace."));
        assert_eq!(err(parse_halfvec("")).2.as_deref(), Some("Vector contents must start with \"[\"."));
        assert_eq!(err(parse_halfvec_typmod("[1,2,3]", 2)).1, "expected 2 dimensions, not 3");
        let too_many = format!("[{}]", vec!["1"; 16001].join(","));
        assert_eq!(err(parse_halfvec(&too_many)).1, "halfvec cannot have more than 16000 dimensions");
    }

    fn sv(dim: i32, idx: &[i32], val: &[f32]) -> SparseVec {
        SparseVec {
            dim,
            indices: idx.to_vec(),
            values: val.to_vec(),
        }
    }

    #[test]
    fn sparsevec_accepts_what_pgvector_accepts() {
        assert_eq!(parse_sparsevec("{1:1.5,3:3.5}/5").unwrap(), sv(5, &[0, 2], &[1.5, 3.5]));
        assert_eq!(parse_sparsevec("{1:-2,3:-4}/5").unwrap(), sv(5, &[0, 2], &[-2.0, -4.0]));
        assert_eq!(parse_sparsevec("{1:2.,3:4.}/5").unwrap(), sv(5, &[0, 2], &[2.0, 4.0]));
        assert_eq!(
            parse_sparsevec(" { 1 : 1.5 ,  3  :  3.5  } / 5 ").unwrap(),
            sv(5, &[0, 2], &[1.5, 3.5])
        );
        assert_eq!(
            parse_sparsevec("{1:1.5e38,2:-1.5e38}/2").unwrap(),
            sv(2, &[0, 1], &[1.5e38, -1.5e38])
        );
        assert_eq!(parse_sparsevec("{}/1").unwrap(), sv(1, &[], &[]));
        assert_eq!(parse_sparsevec("{ }/1").unwrap(), sv(1, &[], &[]));
        assert_eq!(parse_sparsevec("{}/1000000000").unwrap(), sv(1_000_000_000, &[], &[]));
        assert_eq!(parse_sparsevec("{1:0,2:1,3:0}/3").unwrap(), sv(3, &[1], &[1.0]));
        assert_eq!(parse_sparsevec("{2:1,1:1}/2").unwrap(), sv(2, &[0, 1], &[1.0, 1.0]));
        assert_eq!(parse_sparsevec("{3:3,1:1,2:2}/3").unwrap(), sv(3, &[0, 1, 2], &[1.0, 2.0, 3.0]));
        assert_eq!(parse_sparsevec("{+2:1}/+3").unwrap(), sv(3, &[1], &[1.0]));
        // Zeros are dropped before bounds and duplicate checks.
        assert_eq!(parse_sparsevec("{9:0,1:0,1:0}/2").unwrap(), sv(2, &[], &[]));
        assert_eq!(parse_sparsevec("{1:-0}/2").unwrap(), sv(2, &[], &[]));
    }

    #[test]
    fn sparsevec_rejects_malformed_input_with_pgvector_errors() {
        let t = "sparsevec";
        assert_eq!(err(parse_sparsevec("{1:hello,2:1}/2")), syntax(t, "{1:hello,2:1}/2"));
        for lit in [
            "{", "{ ", "{:", "{,", "{}/", "{:}/1", "{,}/1", "{1,}/1", "{:1}/1", "{1:}/1", "{1a:1}/1", "{1:1a}/1", "{1:1,}/1", "{1:1}/x",
            "{1 1}/2",
        ] {
            assert_eq!(err(parse_sparsevec(lit)), syntax(t, lit), "{lit}");
        }
        let mut e = syntax(t, "");
        e.2 = Some("Vector contents must start with \"{\".".into());
        assert_eq!(err(parse_sparsevec("")), e);
        let mut e = syntax(t, "{}");
        e.2 = Some("Unexpected end of input.".into());
        assert_eq!(err(parse_sparsevec("{}")), e);
        let mut e = syntax(t, "{}/1a");
        e.2 = Some("Junk after closing.".into());
        assert_eq!(err(parse_sparsevec("{}/1a")), e);
        assert_eq!(err(parse_sparsevec("{1:NaN,2:1}/2")).1, "NaN not allowed in sparsevec");
        assert_eq!(
            err(parse_sparsevec("{1:Infinity,2:1}/2")).1,
            "infinite value not allowed in sparsevec"
        );
        assert_eq!(
            err(parse_sparsevec("{1:-Infinity,2:1}/2")).1,
            "infinite value not allowed in sparsevec"
        );
        assert_eq!(
            err(parse_sparsevec("{1:4e38,2:1}/2")),
            ("22003".into(), "\"4e38\" is out of range for type sparsevec".into(), None)
        );
        assert_eq!(
            err(parse_sparsevec("{1:-4e38,2:1}/2")).1,
            "\"-4e38\" is out of range for type sparsevec"
        );
        assert_eq!(
            err(parse_sparsevec("{1:1e-46,2:1}/2")).1,
            "\"1e-46\" is out of range for type sparsevec"
        );
        assert_eq!(
            err(parse_sparsevec("{1:-1e-46,2:1}/2")).1,
            "\"-1e-46\" is out of range for type sparsevec"
        );
        let dup = (
            "22000".to_string(),
            "sparsevec indices must not contain duplicates".to_string(),
            None,
        );
        assert_eq!(err(parse_sparsevec("{1:1,1:1}/2")), dup);
        assert_eq!(err(parse_sparsevec("{1:1,2:1,1:1}/2")), dup);
        let low = ("22000".to_string(), "sparsevec must have at least 1 dimension".to_string(), None);
        let high = (
            "54000".to_string(),
            "sparsevec cannot have more than 1000000000 dimensions".to_string(),
            None,
        );
        assert_eq!(err(parse_sparsevec("{}/-1")), low);
        assert_eq!(err(parse_sparsevec("{}/0")), low);
        assert_eq!(err(parse_sparsevec("{}/-2147483649")), low);
        assert_eq!(err(parse_sparsevec("{}/-9223372036854775809")), low);
        assert_eq!(err(parse_sparsevec("{}/1000000001")), high);
        assert_eq!(err(parse_sparsevec("{}/2147483648")), high);
        assert_eq!(err(parse_sparsevec("{}/9223372036854775808")), high);
        let oob = ("22000".to_string(), "sparsevec index out of bounds".to_string(), None);
        for lit in [
            "{2147483647:1}/1",
            "{2147483648:1}/1",
            "{-2147483648:1}/1",
            "{-2147483649:1}/1",
            "{0:1}/1",
            "{2:1}/1",
        ] {
            assert_eq!(err(parse_sparsevec(lit)), oob, "{lit}");
        }
        assert_eq!(err(parse_sparsevec_typmod("{}/3", 2)).1, "expected 2 dimensions, not 3");
        // The typmod is checked before the indices, as pgvector does.
        assert_eq!(err(parse_sparsevec_typmod("{9:1}/3", 2)).1, "expected 2 dimensions, not 3");
        assert_eq!(parse_sparsevec_typmod("{}/3", 3).unwrap(), sv(3, &[], &[]));
    }

    #[test]
    fn sparsevec_nnz_limit_counts_commas_first() {
        let ok: Vec<String> = (1..=16000).map(|i| format!("{i}:1")).collect();
        let v = parse_sparsevec(&format!("{{{}}}/16000", ok.join(","))).unwrap();
        assert_eq!(v.indices.len(), 16000);
        let too_many: Vec<String> = (1..=16001).map(|i| format!("{i}:1")).collect();
        let e = err(parse_sparsevec(&format!("{{{}}}/20000", too_many.join(","))));
        assert_eq!(
            e,
            (
                "54000".into(),
                "sparsevec cannot have more than 16000 non-zero elements".into(),
                None
            )
        );
        // Even when the text is otherwise garbage.
        let commas = ",".repeat(16000);
        assert_eq!(err(parse_sparsevec(&commas)).0, "54000");
    }
}
