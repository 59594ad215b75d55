//! Phone numbers: the E.164 value, its type and status, and the stored record.

use crate::{AgentId, Money, PhoneNumberId, Timestamp, WorkspaceId};
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, Type};
use std::fmt;

/// A valid phone number in E.164 form (`+912234567890`), with the facts libphonenumber derives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct E164 {
    number: String,
    country_code: String,
    derived_type: NumberType,
    /// Digits of the country calling code (`1` for `+1…`), so the national number is the rest.
    calling_code_len: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneNumberError {
    #[error("must start with + and the country calling code")]
    MissingPlus,
    #[error("is not a phone number")]
    Unparseable,
    #[error("is not a valid phone number")]
    Invalid,
    #[error("belongs to no country")]
    NoCountry,
}

/// Loads libphonenumber's metadata now. It is parsed lazily on first use, which takes long
/// enough (most of a second in a debug build) to stall the first request that needs it.
/// Whether `code` is the ISO 3166-1 alpha-2 code of a country or region that has phone
/// numbers (one of libphonenumber's regions), in upper case.
pub fn is_phone_region(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && <phonenumber::country::Id as std::str::FromStr>::from_str(code).is_ok()
}

pub fn load_phone_metadata() {
    let _ = phonenumber::parse(None, "+14155552671");
}

/// Whether `text` is written as E.164 (`+`, then 2 to 15 digits, the first not 0): the form
/// numbers are stored in and carriers send. A check of form only, for lookups of a stored
/// number, which need no libphonenumber parse (the costliest step of a call's answer).
pub fn is_e164_form(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

impl E164 {
    /// Parses any form libphonenumber reads with a leading `+` (`+91 22 3456 7890`), and
    /// normalises it to E.164.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let input = input.trim();
        if !input.starts_with('+') {
            return Err(PhoneNumberError::MissingPlus);
        }
        let parsed = phonenumber::parse(None, input).map_err(|_| PhoneNumberError::Unparseable)?;
        if !parsed.is_valid() {
            return Err(PhoneNumberError::Invalid);
        }
        let metadata = parsed
            .metadata(&DATABASE)
            .ok_or(PhoneNumberError::NoCountry)?;
        let country_code = metadata.id();
        // Non-geographic numbers (+800, +882…) carry the pseudo-region "001".
        if country_code.len() != 2 || !country_code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PhoneNumberError::NoCountry);
        }
        let derived_type = match parsed.number_type(&DATABASE) {
            Type::Mobile => NumberType::Mobile,
            Type::TollFree => NumberType::TollFree,
            // Fixed lines, "fixed line or mobile" (all of NANP), VoIP and the rest are rented as local.
            _ => NumberType::Local,
        };
        Ok(Self {
            number: parsed.format().mode(Mode::E164).to_string(),
            country_code: country_code.to_owned(),
            derived_type,
            calling_code_len: parsed.code().value().to_string().len(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// ISO 3166-1 alpha-2 region of the number (`IN`).
    pub fn country_code(&self) -> &str {
        &self.country_code
    }

    /// The digits after the country calling code (`4155550100` for `+14155550100`).
    pub fn national_digits(&self) -> &str {
        &self.number[1 + self.calling_code_len..]
    }

    /// The type libphonenumber derives from the number's range.
    pub fn derived_type(&self) -> NumberType {
        self.derived_type
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.number)
    }
}

/// A value outside a closed set; the message lists what is allowed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be one of: {allowed}")]
pub struct UnknownValue {
    pub allowed: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberType {
    Local,
    TollFree,
    Mobile,
}

impl NumberType {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::Local => "local",
            NumberType::TollFree => "toll_free",
            NumberType::Mobile => "mobile",
        }
    }

    /// Accepts `local`, `mobile` and the three spellings of toll-free (`toll_free`, `toll-free`,
    /// `tollfree`), in any letter case.
    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(NumberType::Local),
            "mobile" => Ok(NumberType::Mobile),
            "toll_free" | "toll-free" | "tollfree" => Ok(NumberType::TollFree),
            _ => Err(UnknownValue {
                allowed: "local, toll_free, mobile",
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberStatus {
    Pending,
    Active,
}

impl NumberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStatus::Pending => "pending",
            NumberStatus::Active => "active",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Ok(NumberStatus::Pending),
            "active" => Ok(NumberStatus::Active),
            _ => Err(UnknownValue {
                allowed: "pending, active",
            }),
        }
    }
}

/// What a number can do. Rendered as a subset of `["voice","sms"]`, in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Capabilities {
    pub voice: bool,
    pub sms: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be voice, sms or voice|sms (got {0:?})")]
pub struct CapabilitiesError(pub String);

impl Capabilities {
    pub const VOICE: Capabilities = Capabilities {
        voice: true,
        sms: false,
    };

    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::with_capacity(2);
        if self.voice {
            names.push("voice");
        }
        if self.sms {
            names.push("sms");
        }
        names
    }

    /// Parses names separated by `|` (`voice|sms`); an empty string is no capability.
    pub fn parse_list(s: &str) -> Result<Self, CapabilitiesError> {
        let mut caps = Capabilities::default();
        for name in s.split('|').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "voice" => caps.voice = true,
                "sms" => caps.sms = true,
                _ => return Err(CapabilitiesError(name.to_owned())),
            }
        }
        Ok(caps)
    }
}

/// A number a workspace owns, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneNumber {
    pub id: PhoneNumberId,
    pub workspace_id: WorkspaceId,
    pub phone_number: String,
    pub country_code: String,
    pub number_type: NumberType,
    pub monthly_cost: Money,
    pub capabilities: Capabilities,
    pub label: Option<String>,
    pub nickname: Option<String>,
    pub inbound_agent_id: Option<AgentId>,
    pub outbound_agent_id: Option<AgentId>,
    pub status: NumberStatus,
    pub provider: String,
    pub sip_trunk_enabled: bool,
    pub is_default: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every change: what ETags and If-Match compare.
    pub revision: i64,
    /// How calls to it are routed beyond `inbound_agent_id`, if the workspace set a policy.
    pub routing: Option<crate::RoutingPolicy>,
}

impl PhoneNumber {
    /// The strong ETag of the number's current state.
    pub fn etag(&self) -> String {
        format!("\"{}.{}\"", self.id, self.revision)
    }
}

/// Longest nickname the contract allows, in characters.
pub const NICKNAME_MAX_CHARS: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_national_digits_follow_the_calling_code() {
        let national = |n: &str| E164::parse(n).expect(n).national_digits().to_owned();
        assert_eq!(national("+14155550100"), "4155550100");
        assert_eq!(national("+442079460100"), "2079460100");
        assert_eq!(national("+912234567800"), "2234567800");
        assert_eq!(national("+61298765400"), "298765400");
    }

    #[test]
    fn e164_form_is_plus_and_digits() {
        for good in ["+14155550100", "+912234567890", "+44"] {
            assert!(is_e164_form(good), "{good}");
        }
        for bad in [
            "14155550100",
            "+1 415 555 0100",
            "+0123",
            "+4",
            "+1234567890123456",
            "",
            "+",
            "+1415555010a",
        ] {
            assert!(!is_e164_form(bad), "{bad}");
        }
    }

    #[test]
    fn phone_regions() {
        for code in ["US", "GB", "IN", "DE", "FR", "JP"] {
            assert!(is_phone_region(code), "{code}");
        }
        for code in ["XX", "ZZ", "us", "USA", "U", ""] {
            assert!(!is_phone_region(code), "{code}");
        }
    }

    #[test]
    fn parses_and_derives() {
        let n = E164::parse("+91 22 3456 7890").expect("valid Mumbai landline");
        assert_eq!(n.as_str(), "+912234567890");
        assert_eq!(n.country_code(), "IN");
        assert_eq!(n.derived_type(), NumberType::Local);

        let us_toll_free = E164::parse("+1 800 555 0199").expect("valid");
        assert_eq!(us_toll_free.country_code(), "US");
        assert_eq!(us_toll_free.derived_type(), NumberType::TollFree);

        let gb_mobile = E164::parse("+447400123456").expect("valid");
        assert_eq!(gb_mobile.country_code(), "GB");
        assert_eq!(gb_mobile.derived_type(), NumberType::Mobile);
    }

    #[test]
    fn rejects_invalid_numbers() {
        assert_eq!(
            E164::parse("912234567890"),
            Err(PhoneNumberError::MissingPlus)
        );
        assert_eq!(E164::parse("+1 555"), Err(PhoneNumberError::Invalid));
        assert!(E164::parse("+abc").is_err());
    }

    #[test]
    fn type_spellings() {
        for s in ["toll_free", "toll-free", "tollfree", "TOLL_FREE"] {
            assert_eq!(NumberType::parse(s), Ok(NumberType::TollFree));
        }
        assert!(NumberType::parse("premium").is_err());
    }

    #[test]
    fn capabilities_in_order() {
        assert_eq!(
            Capabilities::parse_list("sms|voice").map(Capabilities::names),
            Ok(vec!["voice", "sms"])
        );
        assert_eq!(
            Capabilities::parse_list("").map(Capabilities::names),
            Ok(vec![])
        );
        assert!(Capabilities::parse_list("fax").is_err());
    }
}
