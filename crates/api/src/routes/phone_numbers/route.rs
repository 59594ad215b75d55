//! What a call to a number would do at a given moment: the routing policy's decision, shown
//! before any call depends on it.

use super::*;
use switchboard_domain::routing::WeightedTarget;
use switchboard_domain::{RoutePlan, RouteTarget, plan_route};
use switchboard_store::Agent;

/// The moment to preview.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct RouteQuery {
    /// An RFC 3339 time (write `+` in an offset as `%2B`); now when absent.
    #[param(format = DateTime, example = "2026-11-30T09:00:00-05:00")]
    at: Option<String>,
}

/// The rule that holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldRule {
    /// Its position in `routing.rules`, from 0.
    index: usize,
    #[schema(required = true, example = "business hours")]
    name: Option<String>,
}

/// A target of the decision, as a call would find it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewTarget {
    /// The agent, when the target is one.
    #[schema(required = true, example = "agt_7h3k9m2p4q6r")]
    agent_id: Option<String>,
    #[schema(required = true, example = "Front desk")]
    agent_name: Option<String>,
    /// Where the call would be connected: the agent's destination, or the target's own.
    #[schema(required = true, example = "sip:frontdesk@agents.example.com")]
    destination: Option<String>,
    /// The weight among the targets; absent in the fallback chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<u32>,
    /// The share of calls it gets when every target is free (weight over the total).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.8)]
    share: Option<f64>,
    /// False for an agent without a destination: a call skips it.
    can_take_calls: bool,
}

/// A call's route at one moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoutePreview {
    #[schema(example = "phn_4k2m9x7q1z3b")]
    phone_number_id: String,
    #[schema(example = "+14155550100")]
    phone_number: String,
    #[schema(format = DateTime, example = "2026-11-30T14:00:00.000Z")]
    at: String,
    /// The policy's time zone; `null` without a policy.
    #[schema(required = true, example = "America/New_York")]
    time_zone: Option<String>,
    /// The moment in that zone; `null` without a policy.
    #[schema(required = true, example = "2026-11-30T09:00:00")]
    local_time: Option<String>,
    /// The rule that holds; `null` when the number's inbound agent (or nobody) takes the call.
    #[schema(required = true)]
    rule: Option<HeldRule>,
    /// Why, in a sentence.
    #[schema(example = "rule 1 (business hours) holds at mon 2026-11-30 09:00 America/New_York")]
    reason: String,
    /// Whether any target or fallback step can take the call; a call that cannot be routed
    /// hears the apology.
    routable: bool,
    /// One is picked per call, by weight.
    targets: Vec<PreviewTarget>,
    /// Tried in order when the picked target does not answer, is busy or fails.
    fallback: Vec<PreviewTarget>,
    #[schema(example = 20)]
    ring_timeout_secs: u32,
    #[schema(required = true, example = 10)]
    max_concurrent_calls: Option<u32>,
}

/// Preview a number's route (ext).
///
/// What a call at `at` would do: the rule that holds (in the policy's time zone), the targets
/// with their destinations and shares, the fallback chain, and why. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/{id}/route",
    operation_id = "previewPhoneNumberRoute",
    tag = "Phone Numbers",
    params(NumberPath, RouteQuery),
    responses(
        (status = 200, description = "The decision at that moment.", body = RoutePreview),
        (status = 400, description = "`at` is not an RFC 3339 time.", body = ErrorResponse),
        (status = 404, description = "No such number in this workspace.", body = ErrorResponse),
    )
)]
pub async fn preview_route(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let at = match query.get("at") {
        None => Timestamp::now(),
        // An unencoded `+` in the offset arrives as a space: read it as the `+` it was.
        Some(text) => Timestamp::parse_rfc3339(text)
            .or_else(|| Timestamp::parse_rfc3339(&text.replace(' ', "+")))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "at must be an RFC 3339 time, e.g. 2026-11-30T09:00:00-05:00 (write + as %2B)",
                )
            })?,
    };
    let id = number_id(id)?;
    let number = find_number(&state, &caller, &id).await?;
    let plan = plan_route(
        number.routing.as_ref(),
        number.inbound_agent_id.as_ref(),
        at,
    );
    let mut agents: HashMap<AgentId, Option<Agent>> = HashMap::new();
    let targets = plan.targets.iter().map(|t| &t.target);
    for target in targets.chain(&plan.fallback) {
        if let RouteTarget::Agent(agent) = target
            && !agents.contains_key(agent)
        {
            let found = state.store.get_agent(&caller.workspace_id, agent).await?;
            agents.insert(agent.clone(), found);
        }
    }
    let preview = preview(&number, &plan, at, &agents);
    Ok(json_response(StatusCode::OK, &preview))
}

fn preview(
    number: &PhoneNumber,
    plan: &RoutePlan,
    at: Timestamp,
    agents: &HashMap<AgentId, Option<Agent>>,
) -> RoutePreview {
    let total: u32 = plan.targets.iter().map(|t| t.weight).sum();
    let describe = |target: &RouteTarget, weighted: Option<&WeightedTarget>| {
        let (agent_id, agent_name, destination) = match target {
            RouteTarget::Agent(id) => {
                let agent = agents.get(id).and_then(Option::as_ref);
                (
                    Some(id.to_string()),
                    agent.map(|a| a.name.clone()),
                    agent.and_then(|a| a.destination.as_ref().map(|d| d.to_string())),
                )
            }
            RouteTarget::Destination(destination) => (None, None, Some(destination.to_string())),
        };
        PreviewTarget {
            agent_id,
            agent_name,
            can_take_calls: destination.is_some(),
            destination,
            weight: weighted.map(|w| w.weight),
            share: weighted.map(|w| f64::from(w.weight) / f64::from(total.max(1))),
        }
    };
    let targets: Vec<PreviewTarget> = plan
        .targets
        .iter()
        .map(|t| describe(&t.target, Some(t)))
        .collect();
    let fallback: Vec<PreviewTarget> = plan.fallback.iter().map(|t| describe(t, None)).collect();
    let routable = targets.iter().chain(&fallback).any(|t| t.can_take_calls);
    let mut reason = plan.reason.clone();
    if plan.is_routable() && !routable {
        reason.push_str("; but no target can take calls: give its agents a destination");
    }
    let policy = number.routing.as_ref();
    RoutePreview {
        phone_number_id: number.id.to_string(),
        phone_number: number.phone_number.clone(),
        at: at.to_string(),
        time_zone: policy.map(|p| p.time_zone.name().to_owned()),
        local_time: policy.map(|p| p.local_time(at).format("%Y-%m-%dT%H:%M:%S").to_string()),
        rule: plan.rule.map(|index| HeldRule {
            index,
            name: plan.rule_name.clone(),
        }),
        reason,
        routable,
        targets,
        fallback,
        ring_timeout_secs: plan.ring_timeout_secs,
        max_concurrent_calls: plan.max_concurrent_calls,
    }
}
