//! `WITH (text_config = 'english')`: the text search configuration of the index. Required for a
//! text column (its documents are `to_tsvector(text_config, column)`); optional for a tsvector
//! column, where it names the configuration queries are parsed with.

use pgrx::pg_sys;
use std::sync::atomic::{AtomicU32, Ordering};

static RELOPT_KIND: AtomicU32 = AtomicU32::new(0);

/// The parsed options as `build_reloptions` lays them out (a varlena; strings follow, found by
/// their offset from the struct's start, 0 when unset).
#[repr(C)]
struct Bm25Options {
    vl_len_: i32,
    text_config: i32,
}

/// Rejects a configuration name that does not resolve, when the option is set.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn validate_config(value: *const std::ffi::c_char) {
    unsafe {
        if !value.is_null() {
            let name = std::ffi::CStr::from_ptr(value).to_string_lossy();
            super::regconfig(&name);
        }
    }
}

pub fn init() {
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        RELOPT_KIND.store(kind as u32, Ordering::Relaxed);
        pg_sys::add_string_reloption(
            kind as _,
            c"text_config".as_ptr(),
            c"Text search configuration of the documents".as_ptr(),
            std::ptr::null(),
            Some(validate_config),
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    unsafe {
        let tab = [crate::compat::relopt(
            c"text_config",
            pg_sys::relopt_type::RELOPT_TYPE_STRING,
            std::mem::offset_of!(Bm25Options, text_config),
        )];
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND.load(Ordering::Relaxed) as _,
            std::mem::size_of::<Bm25Options>(),
            tab.as_ptr(),
            tab.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// The `text_config` option of an index, if set.
///
/// # Safety
/// `index` is an open bm25 index relation.
pub unsafe fn text_config(index: pg_sys::Relation) -> Option<String> {
    unsafe {
        let opts = (*index).rd_options as *const Bm25Options;
        if opts.is_null() || (*opts).text_config == 0 {
            return None;
        }
        let p = (opts as *const u8).add((*opts).text_config as usize) as *const std::ffi::c_char;
        Some(std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}
