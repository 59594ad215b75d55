//! Timestamps: milliseconds since the Unix epoch inside, RFC 3339 UTC with milliseconds outside
//! (`2024-01-15T07:00:00.000Z`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::macros::format_description;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(millis)
    }

    pub fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// An RFC 3339 time with any offset and precision (`2024-01-15T07:00:00Z`,
    /// `2024-01-15T09:00:00.5+02:00`), to the millisecond.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let time =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(time.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let nanos = i128::from(self.0) * 1_000_000;
        let text = OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&format).ok())
            .ok_or(fmt::Error)?;
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        let t = Timestamp::parse_rfc3339("2024-01-15T09:00:00.5+02:00").expect("valid");
        assert_eq!(t.to_string(), "2024-01-15T07:00:00.500Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("2024-01-15"), None);
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn renders_rfc3339_with_millis() {
        assert_eq!(
            Timestamp::from_millis(1_705_302_000_000).to_string(),
            "2024-01-15T07:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(1_705_302_000_123).to_string(),
            "2024-01-15T07:00:00.123Z"
        );
    }
}
