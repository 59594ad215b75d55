//! Purchases interrupted by a crash.
//!
//! A purchase claims its number (`pending`) before paying the provider and stores the sale
//! after. A process killed in between leaves the claim behind: the number may or may not
//! have been bought, and nobody can buy it again. The sweep gives such numbers back to their
//! provider (a release of a number never bought is refused, which is fine) and drops the
//! claims. Any replica may sweep; doing it twice is harmless.

use std::time::Duration;
use switchboard_domain::{E164, Timestamp};
use switchboard_server::AppState;

/// Far beyond any purchase in flight (provider calls time out within seconds).
pub const STALE_CLAIM_AGE: Duration = Duration::from_secs(10 * 60);

/// Releases and drops every claim older than [`STALE_CLAIM_AGE`]; returns how many went.
pub async fn sweep_stale_claims(state: &AppState) -> usize {
    let cutoff =
        Timestamp::from_millis(Timestamp::now().as_millis() - STALE_CLAIM_AGE.as_millis() as i64);
    let claims = match state.store.stale_claims(cutoff).await {
        Ok(claims) => claims,
        Err(error) => {
            tracing::warn!(%error, "could not look for stale purchase claims");
            return 0;
        }
    };
    let mut swept = 0;
    for claim in claims {
        if let (Some(provider), Ok(number)) = (
            state.providers.get(&claim.provider),
            E164::parse(&claim.phone_number),
        ) {
            match provider.release(&number).await {
                // Refused (not held, or refused for good): nothing is left to release there.
                Ok(()) => {}
                Err(error) if error.is_refusal() => {}
                Err(error) => {
                    // Keep the claim: the next sweep tries again.
                    tracing::warn!(number = %number, %error, "could not release an interrupted purchase");
                    continue;
                }
            }
        }
        match state.store.drop_claim(&claim.workspace_id, &claim.id).await {
            Ok(()) => {
                tracing::warn!(number = %claim.phone_number, "released an interrupted purchase");
                swept += 1;
            }
            Err(error) => tracing::warn!(%error, "could not drop a stale purchase claim"),
        }
    }
    swept
}
