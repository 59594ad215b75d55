//! Reading rows back: what a value no code path of ours writes becomes.

/// A value in the database that no code path of ours writes: the file was edited by hand or
/// is corrupt. Reported, never papered over.
pub(crate) fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, format!("{what} {value:?}"), rusqlite::types::Type::Text)
}

pub(crate) fn parse_id<T>(
    value: String,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> rusqlite::Result<T> {
    parse(&value).ok_or_else(|| corrupt(what, &value))
}
