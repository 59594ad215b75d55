//! The call log: every inbound call, the targets it tried and how it ended; and the rules
//! both backends apply when a carrier reports an attempt's or a call's end.

use crate::{PageRequest, StoreError};
use async_trait::async_trait;
use serde_json::{Value, json};
use switchboard_domain::{
    AgentId, CallId, CallOutcome, Destination, PhoneNumber, PhoneNumberId, Timestamp, WorkspaceId,
};

/// One target of a call's plan, in the order it is tried: the agent (if the target is one)
/// and where the carrier connects the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTarget {
    pub agent_id: Option<AgentId>,
    pub destination: Destination,
}

/// One attempt to connect a call to a target of its plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallAttempt {
    /// Its place in the plan, from 0.
    pub position: u32,
    pub agent_id: Option<AgentId>,
    pub destination: String,
    /// `None` while it rings (or, once connected, `Completed`).
    pub outcome: Option<CallOutcome>,
    pub started_at: Timestamp,
    /// When it stopped taking a share of the concurrency cap: at a failed attempt's report,
    /// or when the call ended.
    pub ended_at: Option<Timestamp>,
}

/// An inbound call as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub id: CallId,
    pub workspace_id: WorkspaceId,
    pub phone_number_id: PhoneNumberId,
    /// The number called, E.164.
    pub phone_number: String,
    /// `twilio`, `telnyx` or `plivo`.
    pub carrier: String,
    pub carrier_call_id: String,
    /// Who called, as the carrier gave it (personal data: see the retention setting).
    pub caller: String,
    /// The rule of the number's routing policy that held, if any.
    pub rule_index: Option<u32>,
    pub rule_name: Option<String>,
    /// Why the call went where it went.
    pub reason: String,
    /// `None` while the call is under way.
    pub outcome: Option<CallOutcome>,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub duration_secs: Option<i64>,
    /// The targets in the order they are tried.
    pub plan: Vec<PlannedTarget>,
    pub attempts: Vec<CallAttempt>,
}

/// A call to record when a carrier first asks where it goes.
#[derive(Clone, Debug)]
pub struct NewCall {
    pub workspace_id: WorkspaceId,
    pub phone_number_id: PhoneNumberId,
    pub phone_number: String,
    pub carrier: String,
    pub carrier_call_id: String,
    pub caller: String,
    pub rule_index: Option<u32>,
    pub rule_name: Option<String>,
    pub reason: String,
    /// Empty when the call has nowhere to go; its first target's attempt starts at once.
    pub plan: Vec<PlannedTarget>,
    /// Set when the call ends before any attempt (`Unroutable`, `Rejected`).
    pub outcome: Option<CallOutcome>,
    pub started_at: Timestamp,
}

impl NewCall {
    /// The call as recorded under `id`: with the attempt to its first target started, unless
    /// it ended before any (then `ended_at` is its start).
    pub fn recorded(&self, id: CallId) -> Call {
        let first_attempt = match (self.outcome, self.plan.first()) {
            (None, Some(target)) => vec![CallAttempt {
                position: 0,
                agent_id: target.agent_id.clone(),
                destination: target.destination.as_str().to_owned(),
                outcome: None,
                started_at: self.started_at,
                ended_at: None,
            }],
            _ => Vec::new(),
        };
        Call {
            id,
            workspace_id: self.workspace_id.clone(),
            phone_number_id: self.phone_number_id.clone(),
            phone_number: self.phone_number.clone(),
            carrier: self.carrier.clone(),
            carrier_call_id: self.carrier_call_id.clone(),
            caller: self.caller.clone(),
            rule_index: self.rule_index,
            rule_name: self.rule_name.clone(),
            reason: self.reason.clone(),
            outcome: self.outcome,
            started_at: self.started_at,
            answered_at: None,
            ended_at: self.outcome.map(|_| self.started_at),
            duration_secs: None,
            plan: self.plan.clone(),
            attempts: first_attempt,
        }
    }
}

/// A number's route as a call needs it: the number with its policy, and the destination of
/// each agent the route names (`None`: the agent has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRoute {
    pub number: PhoneNumber,
    pub destinations: Vec<(AgentId, Option<Destination>)>,
}

impl CallRoute {
    /// The agents the number's route names: its inbound agent and its policy's.
    pub fn named_agents(number: &PhoneNumber) -> Vec<AgentId> {
        let mut named: Vec<AgentId> = number.inbound_agent_id.iter().cloned().collect();
        if let Some(policy) = &number.routing {
            named.extend(policy.agents().into_iter().map(|(_, agent)| agent.clone()));
        }
        named.sort();
        named.dedup();
        named
    }
}

/// The `data` of a `call.started` or `call.completed` webhook: the call as
/// `GET /v1/calls/{id}` shows it.
pub fn call_event_data(call: &Call) -> String {
    serde_json::to_string(&crate::CallObject::from(call.clone())).unwrap_or_default()
}

/// The message id of a call's event (`call.started`, `call.completed`): one per call and
/// type, so a receiver can tell a retried delivery from a new event, and counting up in the
/// order the events happen (`{call}.1`, `{call}.2`), which is the order the deliveries of one
/// call to one endpoint are made in (see `lease_webhook_deliveries`).
pub fn call_event_message_id(call: &CallId, event_type: &str) -> String {
    let step = if event_type == "call.started" { 1 } else { 2 };
    format!("{call}.{step}")
}

/// Filters of the call log; `None` matches everything.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub phone_number_id: Option<PhoneNumberId>,
    /// Calls that tried this agent.
    pub agent_id: Option<AgentId>,
    pub outcome: Option<CallOutcome>,
    /// Started at or after.
    pub since: Option<Timestamp>,
    /// Started before.
    pub until: Option<Timestamp>,
}

/// What the carrier is told after an attempt ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Connect the call to the plan's target at this position.
    Connect(u32, PlannedTarget),
    /// Nothing more to try: the call is over (connected and done, or out of targets).
    Finished(CallOutcome),
}

/// How much of the concurrency cap a target holds on one number: its attempts not ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveCalls {
    pub agent_id: Option<AgentId>,
    pub destination: String,
    pub count: u32,
}

/// One number's calls since a moment, for the compliance review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberCallActivity {
    pub phone_number_id: PhoneNumberId,
    /// Its latest call.
    pub last_call_at: Timestamp,
    /// Its calls that found no working route since the review's shorter window.
    pub unroutable_calls: u64,
}

/// An attempt not ended after this long belongs to a call whose end the carrier never
/// reported; it stops counting against the concurrency cap.
pub const LIVE_ATTEMPT_MAX_MS: i64 = 4 * 60 * 60 * 1000;

/// The call log.
#[async_trait]
pub trait CallStore: Send + Sync {
    /// The number `number` (E.164, as stored) in whichever workspace holds it, with its
    /// agents' destinations: what a carrier's call needs to be routed.
    async fn find_call_route(&self, number: &str) -> Result<Option<CallRoute>, StoreError>;

    /// The attempts to the number's targets that have not ended, started after `since`,
    /// counted per target.
    async fn live_calls(
        &self,
        number: &PhoneNumberId,
        since: Timestamp,
    ) -> Result<Vec<LiveCalls>, StoreError>;

    /// Records calls in one transaction (a batch of the calls that rang together): each with
    /// the attempt to its first target ([`NewCall::recorded`]) and its `call.started`
    /// deliveries. A call the log already holds (`carrier`, `carrier_call_id`: the carrier
    /// asked again) is left as it is. Says, per call, whether it was recorded now.
    async fn start_calls(&self, calls: Vec<NewCall>) -> Result<Vec<bool>, StoreError>;

    /// A call by the carrier's id of it.
    async fn find_call(
        &self,
        carrier: &str,
        carrier_call_id: &str,
    ) -> Result<Option<Call>, StoreError>;

    /// Records how the attempt at `position` ended and says what comes next; a report of an
    /// attempt that already has its outcome answers the same next step again. `None` when no
    /// such call is recorded.
    async fn end_attempt(
        &self,
        carrier: &str,
        carrier_call_id: &str,
        position: u32,
        outcome: CallOutcome,
        at: Timestamp,
    ) -> Result<Option<NextStep>, StoreError>;

    /// Records the end of the call (the carrier's final status, in any order with the
    /// attempts' reports, and as often as it is sent), and the first time, queues its
    /// `call.completed` deliveries. `None` when no such call is recorded.
    async fn end_call(
        &self,
        carrier: &str,
        carrier_call_id: &str,
        status: CallOutcome,
        duration_secs: Option<i64>,
        at: Timestamp,
    ) -> Result<Option<Call>, StoreError>;

    /// The workspace's calls that match, newest first, and how many match.
    async fn list_calls(
        &self,
        workspace: &WorkspaceId,
        filter: &CallFilter,
        page: PageRequest,
    ) -> Result<(Vec<Call>, u64), StoreError>;

    async fn get_call(
        &self,
        workspace: &WorkspaceId,
        id: &CallId,
    ) -> Result<Option<Call>, StoreError>;

    /// The workspace's numbers that had calls since `since`: each one's latest call, and how
    /// many of its calls since `unroutable_since` were `unroutable`.
    async fn call_activity(
        &self,
        workspace: &WorkspaceId,
        since: Timestamp,
        unroutable_since: Timestamp,
    ) -> Result<Vec<NumberCallActivity>, StoreError>;

    /// Deletes every call that started before `before` (the retention period), and the
    /// webhook deliveries of call events queued before then (they name the caller); how many
    /// calls.
    async fn delete_calls_before(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// What an attempt's report changes, as both backends apply it to the call read (and locked)
/// in their transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptReport {
    /// Write the attempt's outcome (false when it has one already: a repeated report).
    pub record: bool,
    /// The call's outcome to write, when it ends here: over none, or (when the attempt
    /// connected) over the one the final status guessed.
    pub call_outcome: Option<CallOutcome>,
    /// Mark the call answered now.
    pub answered: bool,
    /// The next step; `Connect` means an attempt at that position is to be started (unless
    /// it exists: a repeated report).
    pub next: NextStep,
}

impl Call {
    /// What a report that the attempt at `position` ended with `outcome` does to this call.
    pub fn report_attempt(&self, position: u32, outcome: CallOutcome) -> AttemptReport {
        let Some(attempt) = self.attempts.iter().find(|a| a.position == position) else {
            // No such attempt was started: nothing to record, nothing to dial.
            return AttemptReport {
                record: false,
                call_outcome: None,
                answered: false,
                next: NextStep::Finished(self.outcome.unwrap_or(CallOutcome::Failed)),
            };
        };
        let repeated = attempt.outcome.is_some();
        let outcome = attempt.outcome.unwrap_or(outcome);
        let next_position = position + 1;
        let next = if outcome == CallOutcome::Completed {
            NextStep::Finished(CallOutcome::Completed)
        } else if outcome.moves_on() && self.ended_at.is_none() {
            match self.plan.get(next_position as usize) {
                Some(target) => NextStep::Connect(next_position, target.clone()),
                None => NextStep::Finished(outcome),
            }
        } else {
            NextStep::Finished(self.outcome.unwrap_or(outcome))
        };
        // A connected attempt settles the call, even over an outcome the final status
        // guessed because it arrived first (see [`Call::final_outcome`]).
        let call_outcome = match (&next, self.outcome) {
            (NextStep::Finished(_), _) if outcome == CallOutcome::Completed => Some(outcome),
            (NextStep::Finished(_), None) => Some(outcome),
            _ => None,
        };
        AttemptReport {
            record: !repeated,
            call_outcome,
            answered: outcome == CallOutcome::Completed && self.answered_at.is_none(),
            next,
        }
    }

    /// The call's outcome once the carrier says it ended with `status`: what an attempt
    /// decided stands; otherwise a call that never connected ended as the carrier says
    /// (`completed` there means the caller hung up while it rang: `no_answer` here, until an
    /// attempt's report arriving later says it connected).
    pub fn final_outcome(&self, status: CallOutcome) -> CallOutcome {
        if let Some(outcome) = self.outcome {
            return outcome;
        }
        if self
            .attempts
            .iter()
            .any(|a| a.outcome == Some(CallOutcome::Completed))
        {
            CallOutcome::Completed
        } else if status == CallOutcome::Completed {
            CallOutcome::NoAnswer
        } else {
            status
        }
    }
}

/// A plan as stored: a JSON array of `{"agent_id","destination"}`.
pub fn plan_column(plan: &[PlannedTarget]) -> String {
    Value::Array(
        plan.iter()
            .map(|t| json!({"agent_id": t.agent_id.as_ref().map(|a| a.as_str()), "destination": t.destination.as_str()}))
            .collect(),
    )
    .to_string()
}

/// A stored plan read back.
pub fn plan_from_column(text: &str) -> Result<Vec<PlannedTarget>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("call plan: {e}"))?;
    let items = value.as_array().ok_or("call plan is not an array")?;
    items
        .iter()
        .map(|item| {
            let destination = item["destination"]
                .as_str()
                .and_then(|d| Destination::parse(d).ok())
                .ok_or_else(|| format!("call plan entry {item}"))?;
            let agent_id = match item["agent_id"].as_str() {
                Some(id) => {
                    Some(AgentId::parse(id).ok_or_else(|| format!("call plan agent {id}"))?)
                }
                None => None,
            };
            Ok(PlannedTarget {
                agent_id,
                destination,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(plan: usize, attempts: &[(u32, Option<CallOutcome>)]) -> Call {
        let target = PlannedTarget {
            agent_id: None,
            destination: Destination::parse("tel:+14155550100").expect("tel"),
        };
        Call {
            id: CallId::generate(),
            workspace_id: WorkspaceId::generate(),
            phone_number_id: PhoneNumberId::generate(),
            phone_number: "+14155550199".into(),
            carrier: "twilio".into(),
            carrier_call_id: "CA1".into(),
            caller: "+14155550123".into(),
            rule_index: None,
            rule_name: None,
            reason: String::new(),
            outcome: None,
            started_at: Timestamp::from_millis(0),
            answered_at: None,
            ended_at: None,
            duration_secs: None,
            plan: vec![target; plan],
            attempts: attempts
                .iter()
                .map(|(position, outcome)| CallAttempt {
                    position: *position,
                    agent_id: None,
                    destination: "tel:+14155550100".into(),
                    outcome: *outcome,
                    started_at: Timestamp::from_millis(0),
                    ended_at: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_failed_attempt_moves_on_and_the_last_one_ends_the_call() {
        let report = call(2, &[(0, None)]).report_attempt(0, CallOutcome::NoAnswer);
        assert!(report.record);
        assert!(matches!(report.next, NextStep::Connect(1, _)));
        assert_eq!(report.call_outcome, None);
        let last = call(2, &[(0, Some(CallOutcome::NoAnswer)), (1, None)])
            .report_attempt(1, CallOutcome::Busy);
        assert_eq!(last.next, NextStep::Finished(CallOutcome::Busy));
        assert_eq!(last.call_outcome, Some(CallOutcome::Busy));
    }

    #[test]
    fn a_connected_attempt_ends_the_call_and_a_repeat_changes_nothing() {
        let done = call(2, &[(0, None)]).report_attempt(0, CallOutcome::Completed);
        assert_eq!(done.next, NextStep::Finished(CallOutcome::Completed));
        assert!(done.answered);
        let mut seen = call(2, &[(0, Some(CallOutcome::NoAnswer)), (1, None)]);
        let again = seen.report_attempt(0, CallOutcome::Completed);
        assert!(!again.record, "the first report stands");
        assert!(matches!(again.next, NextStep::Connect(1, _)));
        // The caller hung up first: nothing more is dialled.
        seen.ended_at = Some(Timestamp::from_millis(5));
        let late = seen.report_attempt(1, CallOutcome::NoAnswer);
        assert_eq!(late.next, NextStep::Finished(CallOutcome::NoAnswer));
    }

    #[test]
    fn a_connection_reported_after_the_final_status_settles_the_call() {
        let mut ended = call(1, &[(0, None)]);
        ended.outcome = Some(ended.final_outcome(CallOutcome::Completed));
        ended.ended_at = Some(Timestamp::from_millis(9));
        assert_eq!(ended.outcome, Some(CallOutcome::NoAnswer));
        let report = ended.report_attempt(0, CallOutcome::Completed);
        assert_eq!(report.next, NextStep::Finished(CallOutcome::Completed));
        assert_eq!(report.call_outcome, Some(CallOutcome::Completed));
    }

    #[test]
    fn the_final_status_keeps_what_the_attempts_decided() {
        assert_eq!(
            call(1, &[(0, Some(CallOutcome::Completed))]).final_outcome(CallOutcome::Completed),
            CallOutcome::Completed
        );
        assert_eq!(
            call(1, &[(0, None)]).final_outcome(CallOutcome::Completed),
            CallOutcome::NoAnswer
        );
        assert_eq!(
            call(1, &[(0, None)]).final_outcome(CallOutcome::Busy),
            CallOutcome::Busy
        );
    }
}
