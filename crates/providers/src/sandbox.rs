//! The built-in provider: a deterministic catalogue for every country of the country rules,
//! priced from the pricing table. Works offline; the demo and the tests use it.
//!
//! It keeps no state: who owns a number is Switchboard's database's business, and search
//! results are filtered against it by the caller.

use crate::{NumberSearch, Offer, Provider, ProviderError};
use async_trait::async_trait;
use std::collections::HashMap;
use switchboard_domain::{E164, Money, NumberType};

/// How many numbers of each country and type the catalogue holds.
pub const NUMBERS_PER_RANGE: u32 = 20;

/// The first number of each `(country, type)` range; the range counts up from it. Each is a
/// number libphonenumber accepts as valid, of that country and type (a test checks all).
const RANGES: &[(&str, NumberType, u64)] = &[
    ("US", NumberType::Local, 14155550100),
    ("US", NumberType::TollFree, 18005550100),
    ("CA", NumberType::Local, 14165550100),
    ("GB", NumberType::Local, 442079460100),
    ("GB", NumberType::Mobile, 447400123400),
    ("GB", NumberType::TollFree, 448081570100),
    ("IN", NumberType::Local, 912234567800),
    ("IN", NumberType::Mobile, 919820012300),
    ("IN", NumberType::TollFree, 9118001234500),
    ("AU", NumberType::Local, 61298765400),
    ("AU", NumberType::Mobile, 61412345600),
    ("AU", NumberType::TollFree, 611800123400),
    ("DE", NumberType::Local, 4930123456700),
    ("DE", NumberType::Mobile, 4915123456700),
    ("DE", NumberType::TollFree, 498001234500),
];

/// A price the sandbox charges, from the pricing table.
#[derive(Clone, Debug)]
pub struct SandboxPrice {
    pub country_iso: String,
    pub number_type: NumberType,
    pub monthly: Money,
    pub setup: Money,
}

#[derive(Debug)]
pub struct SandboxProvider {
    prices: HashMap<(String, NumberType), (Money, Money)>,
}

impl SandboxProvider {
    pub const ID: &'static str = "sandbox";

    pub fn new(prices: impl IntoIterator<Item = SandboxPrice>) -> Self {
        Self {
            prices: prices
                .into_iter()
                .map(|p| ((p.country_iso, p.number_type), (p.monthly, p.setup)))
                .collect(),
        }
    }

    fn offer(&self, number: E164, number_type: NumberType) -> Option<Offer> {
        let (monthly, setup) = *self
            .prices
            .get(&(number.country_code().to_owned(), number_type))?;
        Some(Offer {
            number,
            number_type,
            monthly_cost: monthly,
            setup_cost: setup,
            voice: true,
            // Toll-free numbers take calls only, as at most carriers.
            sms: number_type != NumberType::TollFree,
            mms: false,
        })
    }

    /// Every number of the catalogue that has a price, in catalogue order.
    pub fn catalogue(&self) -> impl Iterator<Item = Offer> + '_ {
        RANGES.iter().flat_map(move |(_, number_type, first)| {
            (0..u64::from(NUMBERS_PER_RANGE)).filter_map(move |i| {
                let number = E164::parse(&format!("+{}", first + i)).ok()?;
                self.offer(number, *number_type)
            })
        })
    }
}

#[async_trait]
impl Provider for SandboxProvider {
    fn id(&self) -> &'static str {
        Self::ID
    }

    async fn search(&self, search: &NumberSearch) -> Result<Vec<Offer>, ProviderError> {
        let country_iso = search.country_iso.as_str();
        // A type the catalogue has none of in that country is said so, rather than shown as
        // an empty list that looks like "sold out".
        if let Some(wanted) = search.number_type {
            let types: Vec<&str> = RANGES
                .iter()
                .filter(|(country, _, _)| *country == country_iso)
                .map(|(_, t, _)| t.as_str())
                .collect();
            if !types.is_empty() && !types.contains(&wanted.as_str()) {
                return Err(ProviderError::Rejected(format!(
                    "it has no {} numbers in {country_iso} (it has {})",
                    wanted.as_str(),
                    types.join(", ")
                )));
            }
        }
        Ok(self
            .catalogue()
            .filter(|offer| search.matches(offer))
            .collect())
    }

    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError> {
        self.catalogue()
            .find(|offer| offer.number == *number)
            .ok_or(ProviderError::NotOffered)
    }

    async fn release(&self, _number: &E164) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_type(country: &str, number_type: NumberType) -> NumberSearch {
        NumberSearch {
            number_type: Some(number_type),
            ..NumberSearch::country(country)
        }
    }

    fn priced_everywhere() -> SandboxProvider {
        SandboxProvider::new(RANGES.iter().map(|(country, number_type, _)| SandboxPrice {
            country_iso: (*country).to_owned(),
            number_type: *number_type,
            monthly: Money::from_cents(100).unwrap_or_default(),
            setup: Money::ZERO,
        }))
    }

    #[test]
    fn every_catalogue_number_is_valid_and_of_its_country_and_type() {
        let mut wrong = Vec::new();
        for (country, number_type, first) in RANGES {
            for i in 0..u64::from(NUMBERS_PER_RANGE) {
                let text = format!("+{}", first + i);
                match E164::parse(&text) {
                    Ok(n) if n.country_code() == *country && n.derived_type() == *number_type => {}
                    Ok(n) => wrong.push(format!(
                        "{text}: {} {:?}",
                        n.country_code(),
                        n.derived_type()
                    )),
                    Err(e) => wrong.push(format!("{text}: {e}")),
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(
            priced_everywhere().catalogue().count(),
            RANGES.len() * NUMBERS_PER_RANGE as usize
        );
    }

    #[tokio::test]
    async fn a_type_the_catalogue_lacks_is_named() {
        let sandbox = priced_everywhere();
        match sandbox.search(&of_type("US", NumberType::Mobile)).await {
            Err(ProviderError::Rejected(reason)) => {
                assert_eq!(
                    reason,
                    "it has no mobile numbers in US (it has local, toll_free)"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(
            sandbox
                .search(&of_type("CA", NumberType::Local))
                .await
                .is_ok_and(|o| o.len() == 20)
        );
    }

    #[tokio::test]
    async fn search_and_buy() {
        let sandbox = priced_everywhere();
        let offers = sandbox
            .search(&of_type("IN", NumberType::Mobile))
            .await
            .unwrap_or_default();
        assert_eq!(offers.len(), NUMBERS_PER_RANGE as usize);
        assert!(
            offers
                .iter()
                .all(|o| o.number.country_code() == "IN" && o.number_type == NumberType::Mobile)
        );
        let bought = sandbox.buy(&offers[3].number).await.expect("offered");
        assert_eq!(bought, offers[3]);
        let elsewhere = E164::parse("+14155552671").expect("valid");
        let filtered = sandbox
            .search(&NumberSearch {
                area_code: Some("415".into()),
                contains: Some("011".into()),
                sms: true,
                ..NumberSearch::country("US")
            })
            .await
            .unwrap_or_default();
        let numbers: Vec<&str> = filtered.iter().map(|o| o.number.as_str()).collect();
        assert_eq!(
            numbers,
            (10..=19)
                .map(|i| format!("+141555501{i}"))
                .collect::<Vec<_>>(),
            "numbers of area code 415 with 011 in them, that carry SMS"
        );
        assert!(matches!(
            sandbox.buy(&elsewhere).await,
            Err(ProviderError::NotOffered)
        ));
    }
}
