//! Where numbers come from. Every provider answers the same three questions — what can be
//! bought, buy this one, give this one back — behind [`Provider`].
#![forbid(unsafe_code)]

pub mod plivo;
mod sandbox;
pub mod telnyx;
pub mod twilio;
pub mod twiml;

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::{E164, Money, NumberType};

pub use plivo::{PlivoConfig, PlivoProvider};
pub use sandbox::{SandboxPrice, SandboxProvider};

/// A number a provider offers, with what it costs and can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub number: E164,
    pub number_type: NumberType,
    pub monthly_cost: Money,
    pub setup_cost: Money,
    pub voice: bool,
    pub sms: bool,
    pub mms: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider does not offer this number (any more).
    #[error("the number is not offered by this provider")]
    NotOffered,
    /// The provider refused the request; the text is its reason.
    #[error("the provider refused the request: {0}")]
    Rejected(String),
    /// The provider could not be reached, timed out, or answered with an error of its own.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The `telephonyProviderId` clients use for it.
    fn id(&self) -> &'static str;
    /// Numbers for sale in a country (ISO alpha-2), optionally of one type.
    async fn search(
        &self,
        country_iso: &str,
        number_type: Option<NumberType>,
    ) -> Result<Vec<Offer>, ProviderError>;
    /// Buys `number`; returns what was bought.
    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError>;
    /// Gives `number` back.
    async fn release(&self, number: &E164) -> Result<(), ProviderError>;
}

/// The providers this server can buy from, by id.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    by_id: BTreeMap<&'static str, Arc<dyn Provider>>,
    default: Option<&'static str>,
}

impl Providers {
    /// The first provider added is the default for searches.
    pub fn with(mut self, provider: Arc<dyn Provider>) -> Self {
        let id = provider.id();
        self.default.get_or_insert(id);
        self.by_id.insert(id, provider);
        self
    }

    /// Every provider replaced by `wrap(provider)` (e.g. to instrument their calls).
    pub fn wrap(mut self, wrap: impl Fn(Arc<dyn Provider>) -> Arc<dyn Provider>) -> Self {
        for provider in self.by_id.values_mut() {
            *provider = wrap(provider.clone());
        }
        self
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Provider>> {
        self.by_id.get(id)
    }

    pub fn default_provider(&self) -> Option<&Arc<dyn Provider>> {
        self.default.and_then(|id| self.by_id.get(id))
    }

    /// Ids in alphabetical order, for error messages.
    pub fn ids(&self) -> Vec<&'static str> {
        self.by_id.keys().copied().collect()
    }
}
