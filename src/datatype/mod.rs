//! SQL data types: varlena layouts and their C-callable functions.

pub mod array;
pub mod bit;
pub mod bitvec;
pub mod halfvec;
pub mod sparsevec;
pub mod vector;
