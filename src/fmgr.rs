//! Helpers for writing version-1 C-callable functions by hand.
//!
//! The SQL scripts declare every function (`AS 'MODULE_PATHNAME', 'semvec_...'`), so we do not use
//! `#[pg_extern]` for functions whose signatures involve our own types.

use pgrx::pg_sys::{self, Datum};
use std::ffi::CStr;

/// Define a V1 function callable from SQL: emits `pg_finfo_<name>` and a guarded body.
#[macro_export]
macro_rules! pg_fn {
    ($(#[$m:meta])* fn $name:ident($fcinfo:ident) $body:block) => {
        ::paste::paste! {
            #[unsafe(no_mangle)]
            #[doc(hidden)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> &'static ::pgrx::pg_sys::Pg_finfo_record {
                const V1: ::pgrx::pg_sys::Pg_finfo_record = ::pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
            $(#[$m])*
            #[unsafe(no_mangle)]
            pub unsafe extern "C-unwind" fn $name($fcinfo: ::pgrx::pg_sys::FunctionCallInfo) -> ::pgrx::pg_sys::Datum {
                // Turns Rust panics and ereport!s into PostgreSQL errors at the FFI boundary.
                unsafe { ::pgrx::pg_sys::panic::pgrx_extern_c_guard(move || -> ::pgrx::pg_sys::Datum { $body }) }
            }
        }
    };
}

#[inline]
pub unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> Datum {
    unsafe { pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, n) }
}

#[inline]
pub unsafe fn arg_is_null(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> bool {
    unsafe { pgrx::fcinfo::pg_arg_is_null(fcinfo, n) }
}

#[inline]
pub unsafe fn arg_i32(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> i32 {
    unsafe { arg(fcinfo, n).value() as i32 }
}

#[inline]
pub unsafe fn arg_bool(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> bool {
    unsafe { arg(fcinfo, n).value() != 0 }
}

#[inline]
pub unsafe fn arg_cstr<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> &'a CStr {
    unsafe { CStr::from_ptr(arg(fcinfo, n).cast_mut_ptr::<std::ffi::c_char>()) }
}

#[inline]
pub unsafe fn return_null(fcinfo: pg_sys::FunctionCallInfo) -> Datum {
    unsafe { pgrx::fcinfo::pg_return_null(fcinfo) }
}

#[inline]
pub fn f64_datum(v: f64) -> Datum {
    Datum::from(v.to_bits() as usize)
}

#[inline]
pub fn f32_datum(v: f32) -> Datum {
    Datum::from(v.to_bits() as usize)
}

#[inline]
pub fn i32_datum(v: i32) -> Datum {
    Datum::from(v as isize)
}

#[inline]
pub fn bool_datum(v: bool) -> Datum {
    Datum::from(v as usize)
}

/// Copy a Rust string into a palloc'd C string (the return value of an output function).
pub fn cstring_datum(s: &str) -> Datum {
    unsafe {
        let p = pg_sys::palloc(s.len() + 1) as *mut u8;
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
        Datum::from(p)
    }
}

/// Detoast a varlena argument; the result lives in the current memory context.
#[inline]
pub unsafe fn detoast(d: Datum) -> *mut pg_sys::varlena {
    unsafe { pg_sys::pg_detoast_datum(d.cast_mut_ptr::<pg_sys::varlena>()) }
}

/// Total size of a 4-byte-header varlena.
#[inline]
pub unsafe fn varsize(p: *const pg_sys::varlena) -> usize {
    unsafe { ((*(p as *const u32)) >> 2) as usize & 0x3FFF_FFFF }
}

/// palloc0 a varlena of `len` total bytes and set its header.
pub unsafe fn alloc_varlena(len: usize) -> *mut pg_sys::varlena {
    unsafe {
        let p = pg_sys::palloc0(len) as *mut pg_sys::varlena;
        pgrx::set_varsize_4b(p, len as i32);
        p
    }
}

/// A `text` datum's contents as &str (detoasted; invalid UTF-8 cannot occur in a UTF-8 database,
/// and is replaced lossily elsewhere).
pub unsafe fn text_to_string(d: Datum) -> String {
    unsafe {
        let p = detoast(d);
        let len = varsize(p) - 4;
        let bytes = std::slice::from_raw_parts((p as *const u8).add(4), len);
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub fn text_datum(s: &str) -> Datum {
    unsafe {
        let p = alloc_varlena(s.len() + 4);
        std::ptr::copy_nonoverlapping(s.as_ptr(), (p as *mut u8).add(4), s.len());
        Datum::from(p)
    }
}
