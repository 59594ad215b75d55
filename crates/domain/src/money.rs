//! Money as whole cents; rendered as a decimal string with two places (`"1.15"`), never a float.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Money {
    cents: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be a non-negative amount with at most two decimal places, like 1.15")]
pub struct MoneyError;

impl Money {
    pub const ZERO: Money = Money { cents: 0 };

    pub fn from_cents(cents: i64) -> Result<Self, MoneyError> {
        if cents < 0 {
            return Err(MoneyError);
        }
        Ok(Self { cents })
    }

    pub fn cents(self) -> i64 {
        self.cents
    }

    /// Parses `"1"`, `"1.5"` or `"1.15"`; rejects signs, exponents, more than two decimals.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 12
            || !digits_only(whole)
            || fraction.len() > 2
            || !digits_only(fraction)
        {
            return Err(MoneyError);
        }
        if s.contains('.') && fraction.is_empty() {
            return Err(MoneyError);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError)?;
        let fraction_cents: i64 = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().map_err(|_| MoneyError)? * 10,
            _ => fraction.parse().map_err(|_| MoneyError)?,
        };
        Self::from_cents(whole * 100 + fraction_cents)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_two_places() {
        for (input, shown) in [
            ("1.15", "1.15"),
            ("1", "1.00"),
            ("1.5", "1.50"),
            ("0", "0.00"),
            ("250.00", "250.00"),
        ] {
            assert_eq!(
                Money::parse(input).map(|m| m.to_string()),
                Ok(shown.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_money() {
        for bad in [
            "", "-1", "1.155", "1e3", "abc", ".5", "1.", " 1", "+1", "1,15",
        ] {
            assert_eq!(Money::parse(bad), Err(MoneyError), "{bad:?}");
        }
    }
}
