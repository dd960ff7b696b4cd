//! Conversions between PostgreSQL arrays and Rust slices.

use crate::error::{raise, DATA_EXCEPTION, NULL_VALUE_NOT_ALLOWED};
use pgrx::pg_sys::{self, Datum};

/// `cstring[]` typmod list as integers (what `ArrayGetIntegerTypmods` does, with its errors).
pub unsafe fn cstring_array_to_i32(d: Datum) -> Vec<i32> {
    unsafe {
        let arr = d.cast_mut_ptr::<pg_sys::ArrayType>();
        let mut n: i32 = 0;
        let p = pg_sys::ArrayGetIntegerTypmods(arr, &mut n);
        std::slice::from_raw_parts(p, n as usize).to_vec()
    }
}

/// Deconstruct a 1-D array without NULLs, with pgvector's errors.
unsafe fn deconstruct(d: Datum) -> (pg_sys::Oid, Vec<Datum>) {
    unsafe {
        let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        if (*arr).ndim > 1 {
            raise(DATA_EXCEPTION, "array must be 1-D", None, None);
        }
        if (*arr).dataoffset != 0 && pg_sys::array_contains_nulls(arr) {
            raise(NULL_VALUE_NOT_ALLOWED, "array must not contain nulls", None, None);
        }
        let elemtype = (*arr).elemtype;
        let mut typlen: i16 = 0;
        let mut typbyval = false;
        let mut typalign: std::ffi::c_char = 0;
        pg_sys::get_typlenbyvalalign(elemtype, &mut typlen, &mut typbyval, &mut typalign);
        let mut elems: *mut Datum = std::ptr::null_mut();
        let mut n: i32 = 0;
        pg_sys::deconstruct_array(
            arr,
            elemtype,
            typlen as i32,
            typbyval,
            typalign,
            &mut elems,
            std::ptr::null_mut(),
            &mut n,
        );
        let v = if n > 0 {
            std::slice::from_raw_parts(elems, n as usize).to_vec()
        } else {
            Vec::new()
        };
        (elemtype, v)
    }
}

/// `integer[]`, `real[]`, `double precision[]` or `numeric[]` to f32 values (dimension count and
/// elements are checked by the caller).
pub unsafe fn numeric_array_to_f32(d: Datum) -> Vec<f32> {
    unsafe {
        let (elemtype, elems) = deconstruct(d);
        let mut out = Vec::with_capacity(elems.len());
        match elemtype {
            pg_sys::INT4OID => out.extend(elems.iter().map(|e| e.value() as i32 as f32)),
            pg_sys::FLOAT8OID => out.extend(elems.iter().map(|e| f64::from_bits(e.value() as u64) as f32)),
            pg_sys::FLOAT4OID => out.extend(elems.iter().map(|e| f32::from_bits(e.value() as u32))),
            pg_sys::NUMERICOID => {
                for e in &elems {
                    let f = pgrx::direct_function_call::<f32>(pg_sys::numeric_float4, &[Some(*e)]);
                    out.push(f.unwrap_or(f32::NAN));
                }
            }
            _ => raise(DATA_EXCEPTION, "unsupported array type", None, None),
        }
        out
    }
}

pub fn float4_array_datum(v: &[f32]) -> Datum {
    unsafe {
        let datums: Vec<Datum> = v.iter().map(|x| Datum::from(x.to_bits() as usize)).collect();
        let a = pg_sys::construct_array(
            datums.as_ptr() as *mut Datum,
            datums.len() as i32,
            pg_sys::FLOAT4OID,
            4,
            true,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        );
        Datum::from(a)
    }
}

pub fn float8_array_datum(v: &[f64]) -> Datum {
    unsafe {
        let datums: Vec<Datum> = v.iter().map(|x| Datum::from(x.to_bits() as usize)).collect();
        let a = pg_sys::construct_array(
            datums.as_ptr() as *mut Datum,
            datums.len() as i32,
            pg_sys::FLOAT8OID,
            8,
            true,
            pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
        );
        Datum::from(a)
    }
}

/// An aggregate's `double precision[]` state, validated like pgvector's CheckStateArray.
pub unsafe fn float8_state(d: Datum, caller: &str) -> Vec<f64> {
    unsafe {
        let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let dims = (arr as *const u8).add(std::mem::size_of::<pg_sys::ArrayType>()) as *const i32;
        if (*arr).ndim != 1 || *dims < 1 || (*arr).dataoffset != 0 || (*arr).elemtype != pg_sys::FLOAT8OID {
            crate::error::raise_error(&semvec_vector::state_array_error(caller));
        }
        let n = *dims as usize;
        // data follows the header, the dims and the lower bounds, MAXALIGNed
        let hdr = std::mem::size_of::<pg_sys::ArrayType>() + 2 * 4 * (*arr).ndim as usize;
        let off = (hdr + 7) & !7;
        let p = (arr as *const u8).add(off) as *const f64;
        std::slice::from_raw_parts(p, n).to_vec()
    }
}

/// A 1-D array of a varlena element type (e.g. `vector[]`), with NULL elements where `nulls`.
pub fn varlena_array_datum(datums: &[Datum], nulls: &[bool], elemtype: pg_sys::Oid) -> Datum {
    unsafe {
        let mut dims = [datums.len() as i32];
        let mut lbs = [1i32];
        let a = pg_sys::construct_md_array(
            datums.as_ptr() as *mut Datum,
            nulls.as_ptr() as *mut bool,
            1,
            dims.as_mut_ptr(),
            lbs.as_mut_ptr(),
            elemtype,
            -1,
            false,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        );
        Datum::from(a)
    }
}
