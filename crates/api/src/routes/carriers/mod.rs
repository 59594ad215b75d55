//! `/carriers/…`: the public endpoints a carrier calls when a number rings, authenticated by
//! the carrier's own signature, never by an API key.
//!
//! A call's way through: the carrier's module checks the signature and reads the request →
//! [`route_call`] loads the number and its route (store, one read), decides (domain), records
//! the call and its first attempt (the call recorder: one commit for the calls that ring
//! together) → the carrier's module renders the answer. Each attempt's
//! end comes back through [`attempt_ended`], whose answer is the next target or the end.
//!
//! The answer path never answers a carrier 5xx: a database error, or one slower than
//! `CallSettings::lookup_timeout`, is answered from the route this replica last read for the
//! number, or with the apology; a record slower than that lets the call go where it was
//! decided, and is written when the database answers.

pub mod plivo;
pub mod telnyx;
pub mod texml;
pub mod twilio;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_domain::{
    AgentId, CallOutcome, Destination, NumberStatus, RouteTarget, Timestamp, is_e164_form,
    plan_route,
};
use switchboard_server::AppState;
use switchboard_store::{Call, CallRoute, LIVE_ATTEMPT_MAX_MS, NewCall, NextStep, PlannedTarget};

/// Largest form a carrier posts (a few hundred bytes in practice).
const FORM_MAX_BYTES: usize = 64 * 1024;

/// Why a request was refused: a 403, with nothing recorded.
#[derive(Debug)]
pub struct Refusal(pub &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0).into_response()
    }
}

/// A carrier's request as its signature covers it: the headers, the path and query as the
/// client called them (not as a nested router rewrote them), the whole URL called (see
/// [`called_url`]), and the raw body with its form fields.
#[derive(Debug)]
pub struct CarrierRequest {
    pub headers: HeaderMap,
    pub uri: Uri,
    pub url: String,
    pub body: Bytes,
    pub form: Vec<(String, String)>,
}

impl CarrierRequest {
    pub async fn read(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let (parts, body) = request.into_parts();
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        let body = axum::body::to_bytes(body, FORM_MAX_BYTES)
            .await
            .map_err(|_| Refusal("the form could not be read"))?;
        let form = url::form_urlencoded::parse(&body).into_owned().collect();
        let url = called_url(state, &parts.headers, &uri);
        Ok(Self {
            headers: parts.headers,
            uri,
            url,
            body,
            form,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The request, once its signature is checked.
    pub fn signed(self, carrier: &'static str, dial_result_path: &'static str) -> SignedForm {
        let path_and_query = self.uri.path_and_query().map_or(0, |p| p.as_str().len());
        SignedForm {
            carrier,
            dial_result_path,
            query: url::form_urlencoded::parse(self.uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
            base: self.url[..self.url.len().saturating_sub(path_and_query)].to_owned(),
            form: self.form,
        }
    }
}

/// A request whose signature was checked: its form fields and query, and where it came in.
#[derive(Debug)]
pub struct SignedForm {
    carrier: &'static str,
    /// Where this carrier reports an attempt's end (the `action` of a `<Dial>`).
    dial_result_path: &'static str,
    form: Vec<(String, String)>,
    query: Vec<(String, String)>,
    /// The scheme and host the carrier called, for the `action` URLs.
    base: String,
}

fn field<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl SignedForm {
    pub fn carrier(&self) -> &'static str {
        self.carrier
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        field(&self.form, name)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        field(&self.query, name)
    }

    /// Where the carrier reports how the attempt at `position` ended.
    pub fn action_url(&self, position: u32, ring_timeout_secs: u32) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("attempt", &position.to_string());
        query.append_pair("timeout", &ring_timeout_secs.to_string());
        format!("{}{}?{}", self.base, self.dial_result_path, query.finish())
    }

    /// The attempt a dial-result report is about, and the ring timeout for the next target.
    pub fn reported_attempt(&self) -> Option<(u32, u32)> {
        let position = self.query_param("attempt")?.parse::<u32>().ok()?;
        let ring_timeout = self
            .query_param("timeout")
            .and_then(|t| t.parse::<u32>().ok())
            .unwrap_or(switchboard_domain::routing::DEFAULT_RING_TIMEOUT_SECS);
        Some((position, ring_timeout))
    }
}

/// An answer document (TwiML, TeXML or Plivo XML).
pub fn xml(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

/// A signed request that lacks what it must name.
pub fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}

/// Where the carrier sends the call now.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Connect it to `target`; report the attempt's end as attempt `position`.
    Connect {
        target: PlannedTarget,
        position: u32,
        ring_timeout_secs: u32,
    },
    /// Tell the caller the call cannot be taken, and hang up.
    Apology,
    /// The call is over: hang up.
    HangUp,
}

/// The URL the carrier called, as its signature covers it: `--public-url` and the path and
/// query, or the `Host` header's (with `X-Forwarded-Proto`'s scheme) when no public URL is set.
pub fn called_url(state: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match &state.calls.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("http");
            format!("{scheme}://{host}{path}")
        }
    }
}

/// The route of the number called, read with the lookup timeout; on an error or a timeout,
/// what this replica last read. `Ok(None)`: no workspace holds the number.
async fn known_route(state: &AppState, number: &str) -> Result<Option<Arc<CallRoute>>, ()> {
    let read = state.store.find_call_route(number);
    match tokio::time::timeout(state.calls.lookup_timeout, read).await {
        Ok(Ok(Some(route))) => {
            // Kept only when it changed: a cache insert costs more than the comparison.
            match state.known_routes.get(number) {
                Some(known) if *known == route => Ok(Some(known)),
                _ => {
                    let route = Arc::new(route);
                    state.known_routes.insert(number.to_owned(), route.clone());
                    Ok(Some(route))
                }
            }
        }
        Ok(Ok(None)) => {
            state.known_routes.invalidate(number);
            Ok(None)
        }
        Ok(Err(error)) => {
            tracing::error!(%error, number, "call: the number's route could not be read; answering from the last known route");
            state.known_routes.get(number).map(Some).ok_or(())
        }
        Err(_) => {
            tracing::warn!(number, timeout = ?state.calls.lookup_timeout, "call: the database did not answer in time; answering from the last known route");
            state.known_routes.get(number).map(Some).ok_or(())
        }
    }
}

/// Decides where a new call goes and records it. Never fails: whatever goes wrong is an
/// apology to the caller and a line in the log.
pub async fn route_call(
    state: &AppState,
    carrier: &str,
    carrier_call_id: &str,
    caller: &str,
    called: &str,
) -> Answer {
    // Carriers send E.164, the form numbers are stored in; the lookup needs nothing more.
    if !is_e164_form(called) {
        tracing::warn!(
            carrier,
            called,
            "call: the called number is not an E.164 number"
        );
        return Answer::Apology;
    }
    let route = match known_route(state, called).await {
        Ok(Some(route)) => route,
        Ok(None) => {
            tracing::warn!(
                carrier,
                called,
                "call to a number no workspace holds (unknown or released)"
            );
            return Answer::Apology;
        }
        Err(()) => return Answer::Apology,
    };
    let number = &route.number;
    let now = state.calls.clock.now();
    let plan = plan_route(
        number.routing.as_ref(),
        number.inbound_agent_id.as_ref(),
        now,
    );
    let destinations: HashMap<&AgentId, &Option<Destination>> =
        route.destinations.iter().map(|(a, d)| (a, d)).collect();
    let rejected = if number.status != NumberStatus::Active {
        Some("the number is still being bought")
    } else if !number.capabilities.voice {
        Some("the number cannot carry voice calls")
    } else {
        None
    };
    let live = match (rejected, plan.max_concurrent_calls) {
        (None, Some(_)) => {
            let since = Timestamp::from_millis(now.as_millis() - LIVE_ATTEMPT_MAX_MS);
            state
                .store
                .live_calls(&number.id, since)
                .await
                .unwrap_or_else(|error| {
                    tracing::error!(%error, "call: live calls could not be counted; the cap is not applied to this call");
                    Vec::new()
                })
        }
        _ => Vec::new(),
    };
    let live_count = |target: &RouteTarget| -> u32 {
        let (agent, destination) = match target {
            RouteTarget::Agent(agent) => (Some(agent), None),
            RouteTarget::Destination(d) => (None, Some(d.as_str())),
        };
        live.iter()
            .filter(|l| match (agent, destination) {
                (Some(agent), _) => l.agent_id.as_ref() == Some(agent),
                (None, Some(d)) => l.agent_id.is_none() && l.destination == d,
                _ => false,
            })
            .map(|l| l.count)
            .sum()
    };
    let order = plan.attempts(rand::random::<f64>(), live_count);
    // Agents without a destination cannot take calls: the call passes over them.
    let targets: Vec<PlannedTarget> =
        order
            .into_iter()
            .filter_map(|target| match target {
                RouteTarget::Agent(agent) => destinations
                    .get(&agent)
                    .and_then(|d| (*d).clone())
                    .map(|destination| PlannedTarget {
                        agent_id: Some(agent),
                        destination,
                    }),
                RouteTarget::Destination(destination) => Some(PlannedTarget {
                    agent_id: None,
                    destination,
                }),
            })
            .collect();
    let (outcome, reason) = match rejected {
        Some(why) => (Some(CallOutcome::Rejected), why.to_owned()),
        None if targets.is_empty() && !plan.is_routable() => {
            (Some(CallOutcome::Unroutable), plan.reason.clone())
        }
        None if targets.is_empty() => (
            Some(CallOutcome::Unroutable),
            format!(
                "{}; but no target can take it (no destination, or every one at its cap)",
                plan.reason
            ),
        ),
        None => (None, plan.reason.clone()),
    };
    let new = NewCall {
        workspace_id: number.workspace_id.clone(),
        phone_number_id: number.id.clone(),
        phone_number: number.phone_number.clone(),
        carrier: carrier.to_owned(),
        carrier_call_id: carrier_call_id.to_owned(),
        caller: caller.to_owned(),
        rule_index: plan.rule.and_then(|i| u32::try_from(i).ok()),
        rule_name: plan.rule_name.clone(),
        reason,
        plan: if outcome.is_some() {
            Vec::new()
        } else {
            targets
        },
        outcome,
        started_at: now,
    };
    let first = Answer::first_step(&new.plan, new.outcome, plan.ring_timeout_secs);
    // The record commits with the calls that rang with this one (see `CallRecorder`). When
    // the database is slower than the carrier's patience the call still goes where it was
    // decided; its record is written when the database answers.
    let record = state.call_recorder.record(new);
    match tokio::time::timeout(state.calls.lookup_timeout, record).await {
        Ok(Ok(true)) => first,
        // The carrier asked again about a call already recorded: resume where it is.
        Ok(Ok(false)) => match state.store.find_call(carrier, carrier_call_id).await {
            Ok(Some(call)) => Answer::resume(&call, plan.ring_timeout_secs),
            Ok(None) => first,
            Err(error) => {
                tracing::error!(%error, carrier, carrier_call_id, "call: a repeated request's call could not be read; answering as first decided");
                first
            }
        },
        Ok(Err(error)) => {
            tracing::error!(%error, carrier, carrier_call_id, "call: could not be recorded; the caller hears the apology");
            Answer::Apology
        }
        Err(_) => {
            tracing::warn!(carrier, carrier_call_id, timeout = ?state.calls.lookup_timeout, "call: its record did not commit in time; the call goes where it was decided");
            first
        }
    }
}

impl Answer {
    /// The first step of a call just decided: its first target, or the apology when it has
    /// none (unroutable or rejected).
    fn first_step(
        plan: &[PlannedTarget],
        outcome: Option<CallOutcome>,
        ring_timeout_secs: u32,
    ) -> Answer {
        match (outcome, plan.first()) {
            (None, Some(target)) => Answer::Connect {
                target: target.clone(),
                position: 0,
                ring_timeout_secs,
            },
            _ => Answer::Apology,
        }
    }

    /// The step a recorded call is at: its latest attempt, or its end.
    fn resume(call: &Call, ring_timeout_secs: u32) -> Answer {
        match call.attempts.last() {
            Some(attempt) if call.outcome.is_none() => {
                match call.plan.get(attempt.position as usize) {
                    Some(target) => Answer::Connect {
                        target: target.clone(),
                        position: attempt.position,
                        ring_timeout_secs,
                    },
                    None => Answer::Apology,
                }
            }
            _ if call.outcome == Some(CallOutcome::Completed) => Answer::HangUp,
            _ => Answer::Apology,
        }
    }
}

/// Records the end of an attempt and answers the next step.
pub async fn attempt_ended(
    state: &AppState,
    carrier: &str,
    carrier_call_id: &str,
    position: u32,
    outcome: CallOutcome,
    ring_timeout_secs: u32,
) -> Answer {
    match state
        .store
        .end_attempt(
            carrier,
            carrier_call_id,
            position,
            outcome,
            state.calls.clock.now(),
        )
        .await
    {
        Ok(Some(NextStep::Connect(position, target))) => Answer::Connect {
            target,
            position,
            ring_timeout_secs,
        },
        Ok(Some(NextStep::Finished(CallOutcome::Completed))) => Answer::HangUp,
        Ok(Some(NextStep::Finished(_))) => Answer::Apology,
        Ok(None) => {
            tracing::warn!(
                carrier,
                carrier_call_id,
                "call: an attempt's end reported for a call not recorded"
            );
            Answer::HangUp
        }
        Err(error) => {
            tracing::error!(%error, carrier, carrier_call_id, "call: an attempt's end could not be recorded");
            Answer::Apology
        }
    }
}
