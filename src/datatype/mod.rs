//! SQL data types: varlena layouts and their C-callable functions.

pub mod array;
pub mod bit;
pub mod vector;
