//! The `vector` type as a binary query parameter and result column, for either server.

use std::error::Error;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::vecio::{decode_vector, encode_vector};

/// A borrowed vector sent in pgvector's binary layout; the type is matched by name because its OID
/// differs from database to database.
#[derive(Debug)]
pub struct VectorParam<'a>(pub &'a [f32]);

impl ToSql for VectorParam<'_> {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        if self.0.len() > i16::MAX as usize {
            return Err(format!("vector of {} dimensions does not fit the binary format", self.0.len()).into());
        }
        let mut buf = Vec::with_capacity(4 + 4 * self.0.len());
        encode_vector(self.0, &mut buf);
        out.extend_from_slice(&buf);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

/// A `vector` result column.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorValue(pub Vec<f32>);

impl<'a> FromSql<'a> for VectorValue {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        decode_vector(raw).map(VectorValue).map_err(|e| e.to_string().into())
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
}
