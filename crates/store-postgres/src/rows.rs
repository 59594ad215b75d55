//! Reading rows back: typed columns, and what a value no code path of ours writes becomes.

use crate::map_error;
use switchboard_store::StoreError;
use tokio_postgres::Row;

/// A value no code path of ours writes: the database was edited by hand or is damaged.
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unexpected {what} {value:?} in the database").into())
}

pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(map_error)
}

pub(crate) fn parse_id<T>(
    value: String,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> Result<T, StoreError> {
    parse(&value).ok_or_else(|| corrupt(what, &value))
}
