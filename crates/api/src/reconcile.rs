//! Keeping the carrier's side of each number true: a reconcile lists what the account holds at
//! a carrier and compares it with the numbers here. A number active here that the carrier no
//! longer holds is `missing_at_carrier`; one whose calls the carrier sends elsewhere than
//! Switchboard is `carrier_drift` (only for a carrier told where to send them, i.e. one with a
//! public URL configured); one the carrier bills for that no workspace holds is
//! `unknown_at_carrier`. Each run replaces its carrier's findings in the store, where the
//! compliance report reads the first two; with `fix`, drifted numbers are pointed back here.
//! `switchboard numbers reconcile` runs it once, every server runs it each
//! `--reconcile-interval`.

use std::collections::HashMap;
use std::time::Duration;
use switchboard_domain::{E164, Timestamp, WorkspaceId};
use switchboard_providers::{Provider, ProviderError};
use switchboard_server::AppState;
use switchboard_store::{CarrierFinding, CarrierFindingCode, Store, StoreError};

/// What one reconcile with one carrier found and did.
#[derive(Debug)]
pub struct Reconciled {
    pub provider: &'static str,
    /// Numbers held at the carrier, and numbers here from it.
    pub held_at_carrier: usize,
    pub here: usize,
    /// What is wrong now (after `fix`), in number order.
    pub findings: Vec<CarrierFinding>,
    /// Drifted numbers pointed back at Switchboard.
    pub fixed: Vec<String>,
    /// Drifted numbers that could not be, with the carrier's reason.
    pub fix_failed: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot list the numbers held at {provider}: {error}")]
    Carrier {
        provider: &'static str,
        error: ProviderError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sentence a finding says, with its fix.
pub fn describe(finding: &CarrierFinding, provider_voice_url: Option<&str>) -> String {
    let (n, carrier) = (&finding.phone_number, &finding.provider);
    match finding.code {
        CarrierFindingCode::MissingAtCarrier => format!(
            "{n} is active here but {carrier} no longer holds it: calls to it cannot arrive. Release it here (DELETE the number) or find out at {carrier} where it went."
        ),
        CarrierFindingCode::CarrierDrift => {
            let elsewhere = if finding.detail.is_empty() {
                "nowhere".to_owned()
            } else {
                finding.detail.clone()
            };
            let target = provider_voice_url.map_or_else(
                || format!("Switchboard's /carriers/{carrier}/voice"),
                str::to_owned,
            );
            format!(
                "{carrier} sends the calls of {n} to {elsewhere}, not to Switchboard: run `switchboard numbers reconcile --fix`, or set its voice URL to {target} at {carrier}."
            )
        }
        CarrierFindingCode::UnknownAtCarrier => format!(
            "{carrier} bills for {n}, which no workspace here holds: import it (`switchboard numbers import --from {carrier}`) or release it at {carrier}."
        ),
    }
}

/// Compares `provider`'s account with the numbers here and stores what it found. With
/// `fix`, re-points the drifted numbers of `fix_in` (every workspace when `None`).
pub async fn reconcile(
    store: &dyn Store,
    provider: &dyn Provider,
    fix: bool,
    fix_in: Option<&WorkspaceId>,
) -> Result<Reconciled, ReconcileError> {
    let id = provider.id();
    let held = provider
        .held_numbers()
        .await
        .map_err(|error| ReconcileError::Carrier {
            provider: id,
            error,
        })?;
    let here = store.numbers_of_provider(id).await?;
    let held_by_number: HashMap<&str, &switchboard_providers::HeldNumber> =
        held.iter().map(|h| (h.offer.number.as_str(), h)).collect();
    let expected = provider.voice_urls().map(|urls| urls.voice_url.clone());
    let found_at = Timestamp::now();
    let mut findings = Vec::new();
    let (mut fixed, mut fix_failed) = (Vec::new(), Vec::new());
    for number in &here {
        let finding = |code, detail: String| CarrierFinding {
            provider: id.to_owned(),
            code,
            phone_number: number.phone_number.clone(),
            number: Some((number.workspace_id.clone(), number.id.clone())),
            detail,
            found_at,
        };
        let Some(at_carrier) = held_by_number.get(number.phone_number.as_str()) else {
            findings.push(finding(CarrierFindingCode::MissingAtCarrier, String::new()));
            continue;
        };
        let Some(expected) = &expected else { continue };
        if at_carrier.voice_url.as_deref() == Some(expected.as_str()) {
            continue;
        }
        if fix && fix_in.is_none_or(|ws| *ws == number.workspace_id) {
            let e164 = E164::parse(&number.phone_number)
                .map_err(|e| StoreError::Other(format!("stored number {e}").into()))?;
            match provider.configure_voice(&e164).await {
                Ok(()) => {
                    fixed.push(number.phone_number.clone());
                    continue;
                }
                Err(error) => fix_failed.push((number.phone_number.clone(), error.to_string())),
            }
        }
        findings.push(finding(
            CarrierFindingCode::CarrierDrift,
            at_carrier.voice_url.clone().unwrap_or_default(),
        ));
    }
    let ours: Vec<E164> = held.iter().map(|h| h.offer.number.clone()).collect();
    let registered = store.registered_numbers(&ours).await?;
    for unknown in held
        .iter()
        .filter(|h| !registered.contains(&h.offer.number))
    {
        findings.push(CarrierFinding {
            provider: id.to_owned(),
            code: CarrierFindingCode::UnknownAtCarrier,
            phone_number: unknown.offer.number.to_string(),
            number: None,
            detail: String::new(),
            found_at,
        });
    }
    findings
        .sort_by(|a, b| (a.phone_number.as_str(), a.code).cmp(&(b.phone_number.as_str(), b.code)));
    store.replace_carrier_findings(id, findings.clone()).await?;
    Ok(Reconciled {
        provider: id,
        held_at_carrier: held.len(),
        here: here.len(),
        findings,
        fixed,
        fix_failed,
    })
}

/// One reconcile of every carrier that can list its numbers, counted in the metrics
/// (`carrier_reconcile_runs_total{provider,outcome}`, `carrier_findings{provider,code}`).
pub async fn reconcile_all(state: &AppState) {
    for id in state.providers.ids() {
        let Some(provider) = state.providers.get(id) else {
            continue;
        };
        if !provider.lists_held_numbers() {
            continue;
        }
        match reconcile(state.store.as_ref(), provider.as_ref(), false, None).await {
            Ok(done) => {
                metrics::counter!("carrier_reconcile_runs_total", "provider" => id, "outcome" => "ok")
                    .increment(1);
                for code in [
                    CarrierFindingCode::CarrierDrift,
                    CarrierFindingCode::MissingAtCarrier,
                    CarrierFindingCode::UnknownAtCarrier,
                ] {
                    let count = done.findings.iter().filter(|f| f.code == code).count();
                    metrics::gauge!("carrier_findings", "provider" => id, "code" => code.as_str())
                        .set(count as f64);
                }
                if !done.findings.is_empty() {
                    tracing::warn!(
                        provider = id,
                        findings = done.findings.len(),
                        "the reconcile found numbers out of step with their carrier (see the compliance report, or run `switchboard numbers reconcile`)"
                    );
                }
            }
            Err(error) => {
                metrics::counter!("carrier_reconcile_runs_total", "provider" => id, "outcome" => "failed")
                    .increment(1);
                tracing::warn!(provider = id, %error, "the reconcile with a carrier failed; it runs again at the next interval");
            }
        }
    }
}

/// Runs [`reconcile_all`] every `interval`, the first a minute after start (so a fleet of
/// replicas starting together does not all ask the carrier at once on boot).
pub async fn run_periodically(state: AppState, interval: Duration) {
    tokio::time::sleep(Duration::from_secs(60).min(interval)).await;
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        reconcile_all(&state).await;
    }
}
