//! Purchases interrupted by a crash.
//!
//! A purchase claims its number (`pending`) before paying the provider and stores the sale
//! after. A process killed in between leaves the claim behind: the number may or may not
//! have been bought, and nobody can buy it again. The sweep gives such numbers back to their
//! provider (a release of a number never bought is refused, which is fine) and drops the
//! claims. A purchase whose provider completes orders later (Telnyx) also stays `pending`
//! on purpose: the sweep activates it when its order completes, and drops it when it fails.
//! Any replica may sweep; doing it twice is harmless.

use std::time::Duration;
use switchboard_domain::{E164, NumberStatus, Timestamp};
use switchboard_providers::OrderState;
use switchboard_server::AppState;
use switchboard_store::{Actor, NewPhoneNumber};

/// Far beyond any purchase in flight (provider calls time out within seconds).
pub const STALE_CLAIM_AGE: Duration = Duration::from_secs(10 * 60);

/// Past any purchase request still waiting for its order (a Telnyx order waits 25 s at
/// most, inside the request's own limit): from this age a claim's order is settled by the
/// sweep alone, never by the request and the sweep at once.
pub const ORDER_SETTLE_AGE: Duration = Duration::from_secs(60);

/// How long a claim waits for its provider's order before it is given up (the order may
/// still complete: the reconcile then reports the number as `unknown_at_carrier`).
pub const ORDER_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

fn older_than(age: Duration) -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis() - age.as_millis() as i64)
}

/// Settles every claim older than `settle_after`: one whose provider's order completed is
/// activated (the purchase is recorded then), one whose order failed is dropped, one whose
/// order is pending waits (up to [`ORDER_MAX_AGE`]); a claim with no order older than
/// [`STALE_CLAIM_AGE`] was interrupted, and is released at its provider and dropped. Returns
/// how many claims went (activated or dropped). The housekeeping passes
/// [`ORDER_SETTLE_AGE`].
pub async fn sweep_stale_claims(state: &AppState, settle_after: Duration) -> usize {
    let claims = match state.store.stale_claims(older_than(settle_after)).await {
        Ok(claims) => claims,
        Err(error) => {
            tracing::warn!(%error, "could not look for stale purchase claims");
            return 0;
        }
    };
    let (stale, abandoned) = (older_than(STALE_CLAIM_AGE), older_than(ORDER_MAX_AGE));
    let mut swept = 0;
    for claim in claims {
        let provider = state.providers.get(&claim.provider);
        let number = E164::parse(&claim.phone_number);
        let order = match (provider, &number) {
            (Some(provider), Ok(number)) => match provider.order_state(number).await {
                Ok(order) => order,
                Err(error) => {
                    tracing::warn!(number = %number, %error, "could not ask a provider about the order of a pending purchase; asking again at the next sweep");
                    continue;
                }
            },
            _ => OrderState::NoOrder,
        };
        match order {
            OrderState::Completed => {
                let Ok(number) = &number else { continue };
                // The terms the purchase recorded on the claim when the order was placed.
                let bought = NewPhoneNumber {
                    number: number.clone(),
                    number_type: claim.number_type,
                    monthly_cost: claim.monthly_cost,
                    capabilities: claim.capabilities,
                    label: claim.label.clone(),
                    nickname: claim.nickname.clone(),
                    inbound_agent_id: claim.inbound_agent_id.clone(),
                    status: NumberStatus::Active,
                    provider: claim.provider.clone(),
                    sip_trunk_enabled: claim.sip_trunk_enabled,
                };
                match state
                    .store
                    .activate_phone_number(&claim.workspace_id, &claim.id, bought, &Actor::server())
                    .await
                {
                    Ok(_) => {
                        tracing::info!(number = %claim.phone_number, "a purchase's order completed: the number is active");
                        swept += 1;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not activate a purchase whose order completed")
                    }
                }
                continue;
            }
            OrderState::Pending if claim.created_at >= abandoned => continue,
            OrderState::NoOrder if claim.created_at >= stale => continue,
            OrderState::Failed | OrderState::Pending => {}
            OrderState::NoOrder => {
                // Interrupted between the claim and the sale: give the number back.
                if let (Some(provider), Ok(number)) = (provider, &number) {
                    match provider.release(number).await {
                        // Refused (not held, or refused for good): nothing is left there.
                        Ok(()) => {}
                        Err(error) if error.is_refusal() => {}
                        Err(error) => {
                            // Keep the claim: the next sweep tries again.
                            tracing::warn!(number = %number, %error, "could not release an interrupted purchase");
                            continue;
                        }
                    }
                }
            }
        }
        match state.store.drop_claim(&claim.workspace_id, &claim.id).await {
            Ok(()) => {
                tracing::warn!(number = %claim.phone_number, ?order, "dropped a purchase claim (interrupted, its order failed, or waited for a day)");
                swept += 1;
            }
            Err(error) => tracing::warn!(%error, "could not drop a stale purchase claim"),
        }
    }
    swept
}
