//! `WITH (m = 16, ef_construction = 64)`: reloptions with pgvector's names, defaults and ranges,
//! and semvec's `key_vectors` (an index with filter key columns keeps each vector in its keys'
//! posting lists too: docs/filtered-search.md) and `quantization` ('none', 'sq8' or 'sq4': what each
//! element keeps of its vector, docs/quantization.md).

use pgrx::pg_sys;
use std::sync::atomic::{AtomicU32, Ordering};

pub const DEFAULT_M: i32 = 16;
pub const MIN_M: i32 = 2;
pub const MAX_M: i32 = 100;
pub const DEFAULT_EF_CONSTRUCTION: i32 = 64;
pub const MIN_EF_CONSTRUCTION: i32 = 4;
pub const MAX_EF_CONSTRUCTION: i32 = 1000;

static RELOPT_KIND: AtomicU32 = AtomicU32::new(0);

/// The parsed options as `build_reloptions` lays them out (a varlena).
#[repr(C)]
pub struct HnswOptions {
    vl_len_: i32,
    pub m: i32,
    pub ef_construction: i32,
    pub key_vectors: bool,
    /// `quantization`: an index into [`QUANTIZATIONS`].
    pub quantization: i32,
}

/// The values of `quantization`, in `super::opclass::Quant`'s order.
const QUANTIZATIONS: [&std::ffi::CStr; 3] = [c"none", c"sq8", c"sq4"];

pub fn init() {
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        RELOPT_KIND.store(kind as u32, Ordering::Relaxed);
        pg_sys::add_int_reloption(
            kind as _,
            c"m".as_ptr(),
            c"Max number of connections".as_ptr(),
            DEFAULT_M,
            MIN_M,
            MAX_M,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        pg_sys::add_int_reloption(
            kind as _,
            c"ef_construction".as_ptr(),
            c"Size of the dynamic candidate list for construction".as_ptr(),
            DEFAULT_EF_CONSTRUCTION,
            MIN_EF_CONSTRUCTION,
            MAX_EF_CONSTRUCTION,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        pg_sys::add_bool_reloption(
            kind as _,
            c"key_vectors".as_ptr(),
            c"Keep each vector in its filter keys' posting lists too".as_ptr(),
            false,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
        // Lives as long as the backend: the reloption machinery keeps the pointer.
        let members: &'static mut [pg_sys::relopt_enum_elt_def] = Box::leak(
            QUANTIZATIONS
                .iter()
                .enumerate()
                .map(|(i, name)| pg_sys::relopt_enum_elt_def {
                    string_val: name.as_ptr(),
                    symbol_val: i as i32,
                })
                .chain(std::iter::once(pg_sys::relopt_enum_elt_def {
                    string_val: std::ptr::null(),
                    symbol_val: 0,
                }))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        pg_sys::add_enum_reloption(
            kind as _,
            c"quantization".as_ptr(),
            c"What each element keeps of its vector: none (the vector), sq8 or sq4 (an 8- or 4-bit code per dimension; rows are re-ranked by their exact distance)"
                .as_ptr(),
            members.as_mut_ptr(),
            0,
            c"Valid values are \"none\", \"sq8\" and \"sq4\".".as_ptr(),
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    unsafe {
        let tab = [
            crate::compat::relopt(c"m", pg_sys::relopt_type::RELOPT_TYPE_INT, std::mem::offset_of!(HnswOptions, m)),
            crate::compat::relopt(
                c"ef_construction",
                pg_sys::relopt_type::RELOPT_TYPE_INT,
                std::mem::offset_of!(HnswOptions, ef_construction),
            ),
            crate::compat::relopt(
                c"key_vectors",
                pg_sys::relopt_type::RELOPT_TYPE_BOOL,
                std::mem::offset_of!(HnswOptions, key_vectors),
            ),
            crate::compat::relopt(
                c"quantization",
                pg_sys::relopt_type::RELOPT_TYPE_ENUM,
                std::mem::offset_of!(HnswOptions, quantization),
            ),
        ];
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND.load(Ordering::Relaxed) as _,
            std::mem::size_of::<HnswOptions>(),
            tab.as_ptr(),
            tab.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// (m, ef_construction) of an index.
pub unsafe fn get(index: pg_sys::Relation) -> (i32, i32) {
    unsafe {
        let opts = (*index).rd_options as *const HnswOptions;
        if opts.is_null() {
            (DEFAULT_M, DEFAULT_EF_CONSTRUCTION)
        } else {
            ((*opts).m, (*opts).ef_construction)
        }
    }
}

/// Whether an index was created `WITH (key_vectors = on)`.
pub unsafe fn key_vectors(index: pg_sys::Relation) -> bool {
    unsafe {
        let opts = (*index).rd_options as *const HnswOptions;
        !opts.is_null() && (*opts).key_vectors
    }
}

/// The `quantization` an index was created with (its reloption; the meta page keeps it after the
/// build, see `opclass::Quant`).
pub unsafe fn quantization(index: pg_sys::Relation) -> super::opclass::Quant {
    unsafe {
        let opts = (*index).rd_options as *const HnswOptions;
        match (!opts.is_null()).then(|| (*opts).quantization) {
            Some(1) => super::opclass::Quant::Sq8,
            Some(2) => super::opclass::Quant::Sq4,
            _ => super::opclass::Quant::None,
        }
    }
}
