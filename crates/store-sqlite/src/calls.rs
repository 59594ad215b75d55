//! The call log.

use crate::outbox::queue_call_events;
use crate::queries::*;
use crate::rows::{corrupt, parse_id};
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use switchboard_domain::{
    AgentId, CallId, CallOutcome, Destination, PhoneNumberId, Timestamp, WorkspaceId,
};
use switchboard_store::{
    Call, CallAttempt, CallFilter, CallRoute, CallStore, LiveCalls, NewCall, NextStep,
    NumberCallActivity, PageRequest, StoreError, plan_column, plan_from_column,
};

const CALL_COLUMNS: &str = "id, workspace_id, phone_number_id, phone_number, carrier, \
    carrier_call_id, caller, rule_index, rule_name, reason, plan, outcome, started_at, \
    answered_at, ended_at, duration_secs";

fn outcome_from(text: Option<String>) -> rusqlite::Result<Option<CallOutcome>> {
    text.map(|t| CallOutcome::parse(&t).ok_or_else(|| corrupt("call outcome", &t)))
        .transpose()
}

fn call_from_row(row: &Row<'_>) -> rusqlite::Result<Call> {
    let plan: String = row.get(10)?;
    Ok(Call {
        id: parse_id(row.get(0)?, CallId::parse, "call id")?,
        workspace_id: parse_id(row.get(1)?, WorkspaceId::parse, "workspace id")?,
        phone_number_id: parse_id(row.get(2)?, PhoneNumberId::parse, "phone number id")?,
        phone_number: row.get(3)?,
        carrier: row.get(4)?,
        carrier_call_id: row.get(5)?,
        caller: row.get(6)?,
        rule_index: row.get(7)?,
        rule_name: row.get(8)?,
        reason: row.get(9)?,
        plan: plan_from_column(&plan).map_err(|e| corrupt("call plan", &e))?,
        outcome: outcome_from(row.get(11)?)?,
        started_at: Timestamp::from_millis(row.get(12)?),
        answered_at: row.get::<_, Option<i64>>(13)?.map(Timestamp::from_millis),
        ended_at: row.get::<_, Option<i64>>(14)?.map(Timestamp::from_millis),
        duration_secs: row.get(15)?,
        attempts: Vec::new(),
    })
}

/// The call's attempts, in plan order.
fn attempts_of(conn: &Connection, call: &mut Call) -> Result<(), StoreError> {
    call.attempts = conn
        .prepare_cached(
            "SELECT position, agent_id, destination, outcome, started_at, ended_at
             FROM call_attempts WHERE call_id = ?1 ORDER BY position",
        )
        .and_then(|mut stmt| {
            stmt.query_map([call.id.as_str()], |row| {
                Ok(CallAttempt {
                    position: row.get(0)?,
                    agent_id: optional_agent(row.get(1)?)?,
                    destination: row.get(2)?,
                    outcome: outcome_from(row.get(3)?)?,
                    started_at: Timestamp::from_millis(row.get(4)?),
                    ended_at: row.get::<_, Option<i64>>(5)?.map(Timestamp::from_millis),
                })
            })?
            .collect()
        })
        .map_err(map_error)?;
    Ok(())
}

fn read_call(
    conn: &Connection,
    carrier: &str,
    carrier_call_id: &str,
) -> Result<Option<Call>, StoreError> {
    let call = conn
        .prepare_cached(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE carrier = ?1 AND carrier_call_id = ?2"
        ))
        .and_then(|mut stmt| {
            stmt.query_row([carrier, carrier_call_id], call_from_row)
                .optional()
        })
        .map_err(map_error)?;
    match call {
        Some(mut call) => {
            attempts_of(conn, &mut call)?;
            Ok(Some(call))
        }
        None => Ok(None),
    }
}

fn start_attempt(
    conn: &Connection,
    call: &Call,
    position: u32,
    at: Timestamp,
) -> Result<(), StoreError> {
    let Some(target) = call.plan.get(position as usize) else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO call_attempts (call_id, position, phone_number_id, agent_id, destination, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (call_id, position) DO NOTHING",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            call.id.as_str(),
            position,
            call.phone_number_id.as_str(),
            target.agent_id.as_ref().map(AgentId::as_str),
            target.destination.as_str(),
            at.as_millis()
        ])
    })
    .map_err(map_error)?;
    Ok(())
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn find_call_route(&self, number: &str) -> Result<Option<CallRoute>, StoreError> {
        let number = number.to_owned();
        self.lookup(move |conn| {
            let Some(number) = conn
                .prepare_cached(&format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE phone_number = ?1"
                ))
                .and_then(|mut stmt| stmt.query_row([number], phone_number_from_row).optional())
                .map_err(map_error)?
            else {
                return Ok(None);
            };
            let named = CallRoute::named_agents(&number);
            let mut destinations = Vec::with_capacity(named.len());
            let mut read = conn
                .prepare_cached(
                    "SELECT destination FROM agents WHERE id = ?1 AND workspace_id = ?2",
                )
                .map_err(map_error)?;
            for agent in named {
                let destination: Option<Option<String>> = read
                    .query_row([agent.as_str(), number.workspace_id.as_str()], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(map_error)?;
                let destination = destination
                    .flatten()
                    .map(|d| Destination::parse(&d).map_err(|_| corrupt("agent destination", &d)))
                    .transpose()
                    .map_err(map_error)?;
                destinations.push((agent, destination));
            }
            Ok(Some(CallRoute {
                number,
                destinations,
            }))
        })
        .await
    }

    async fn live_calls(
        &self,
        number: &PhoneNumberId,
        since: Timestamp,
    ) -> Result<Vec<LiveCalls>, StoreError> {
        let number = number.clone();
        self.lookup(move |conn| {
            conn.prepare_cached(
                "SELECT agent_id, destination, count(*) FROM call_attempts
                 WHERE phone_number_id = ?1 AND ended_at IS NULL AND started_at >= ?2
                 GROUP BY agent_id, destination",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![number.as_str(), since.as_millis()], |row| {
                    Ok(LiveCalls {
                        agent_id: optional_agent(row.get(0)?)?,
                        destination: row.get(1)?,
                        count: row.get(2)?,
                    })
                })?
                .collect()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn start_calls(&self, calls: Vec<NewCall>) -> Result<Vec<bool>, StoreError> {
        self.write(move |tx| {
            let mut recorded = Vec::with_capacity(calls.len());
            for new in &calls {
                let call = new.recorded(CallId::generate());
                let inserted = tx
                    .prepare_cached(&format!(
                        "INSERT INTO calls ({CALL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, ?14, NULL)
                         ON CONFLICT (carrier, carrier_call_id) DO NOTHING"
                    ))
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            call.id.as_str(),
                            call.workspace_id.as_str(),
                            call.phone_number_id.as_str(),
                            call.phone_number,
                            call.carrier,
                            call.carrier_call_id,
                            call.caller,
                            call.rule_index,
                            call.rule_name,
                            call.reason,
                            plan_column(&call.plan),
                            call.outcome.map(CallOutcome::as_str),
                            call.started_at.as_millis(),
                            call.ended_at.map(Timestamp::as_millis),
                        ])
                    })
                    .map_err(map_error)?
                    == 1;
                if inserted {
                    if !call.attempts.is_empty() {
                        start_attempt(tx, &call, 0, call.started_at)?;
                    }
                    // Over before any attempt (unroutable, rejected): complete as it starts.
                    let events: &[&str] = if call.ended_at.is_some() {
                        &["call.started", "call.completed"]
                    } else {
                        &["call.started"]
                    };
                    queue_call_events(tx, &call, events, call.started_at)?;
                }
                recorded.push(inserted);
            }
            Ok(recorded)
        })
        .await
    }

    async fn find_call(
        &self,
        carrier: &str,
        carrier_call_id: &str,
    ) -> Result<Option<Call>, StoreError> {
        let (carrier, carrier_call_id) = (carrier.to_owned(), carrier_call_id.to_owned());
        self.read(move |conn| read_call(conn, &carrier, &carrier_call_id))
            .await
    }

    async fn end_attempt(
        &self,
        carrier: &str,
        carrier_call_id: &str,
        position: u32,
        outcome: CallOutcome,
        at: Timestamp,
    ) -> Result<Option<NextStep>, StoreError> {
        let (carrier, carrier_call_id) = (carrier.to_owned(), carrier_call_id.to_owned());
        self.write(move |tx| {
            let Some(call) = read_call(tx, &carrier, &carrier_call_id)? else {
                return Ok(None);
            };
            let report = call.report_attempt(position, outcome);
            if report.record {
                // A connected attempt holds its share of the cap until the call ends.
                let ended = (outcome != CallOutcome::Completed).then_some(at.as_millis());
                tx.execute(
                    "UPDATE call_attempts SET outcome = ?1, ended_at = coalesce(ended_at, ?2) WHERE call_id = ?3 AND position = ?4",
                    params![outcome.as_str(), ended, call.id.as_str(), position],
                )
                .map_err(map_error)?;
            }
            if report.answered {
                tx.execute("UPDATE calls SET answered_at = ?1 WHERE id = ?2", params![at.as_millis(), call.id.as_str()])
                    .map_err(map_error)?;
            }
            if let Some(final_outcome) = report.call_outcome {
                tx.execute(
                    "UPDATE calls SET outcome = ?1 WHERE id = ?2 AND (outcome IS NULL OR ?1 = 'completed')",
                    params![final_outcome.as_str(), call.id.as_str()],
                )
                .map_err(map_error)?;
            }
            if let NextStep::Connect(next, _) = &report.next {
                start_attempt(tx, &call, *next, at)?;
            }
            Ok(Some(report.next))
        })
        .await
    }

    async fn end_call(
        &self,
        carrier: &str,
        carrier_call_id: &str,
        status: CallOutcome,
        duration_secs: Option<i64>,
        at: Timestamp,
    ) -> Result<Option<Call>, StoreError> {
        let (carrier, carrier_call_id) = (carrier.to_owned(), carrier_call_id.to_owned());
        self.write(move |tx| {
            let Some(call) = read_call(tx, &carrier, &carrier_call_id)? else {
                return Ok(None);
            };
            let outcome = call.final_outcome(status);
            tx.execute(
                "UPDATE calls SET outcome = ?1, ended_at = coalesce(ended_at, ?2),
                     duration_secs = coalesce(?3, duration_secs) WHERE id = ?4",
                params![
                    outcome.as_str(),
                    at.as_millis(),
                    duration_secs,
                    call.id.as_str()
                ],
            )
            .map_err(map_error)?;
            tx.execute(
                "UPDATE call_attempts SET ended_at = ?1 WHERE call_id = ?2 AND ended_at IS NULL",
                params![at.as_millis(), call.id.as_str()],
            )
            .map_err(map_error)?;
            let ended = read_call(tx, &carrier, &carrier_call_id)?;
            if let Some(ended) = &ended
                && call.ended_at.is_none()
            {
                queue_call_events(tx, ended, &["call.completed"], at)?;
            }
            Ok(ended)
        })
        .await
    }

    async fn list_calls(
        &self,
        workspace: &WorkspaceId,
        filter: &CallFilter,
        page: PageRequest,
    ) -> Result<(Vec<Call>, u64), StoreError> {
        let (workspace, filter) = (workspace.clone(), filter.clone());
        self.read(move |conn| {
            let mut conditions = vec!["workspace_id = ?".to_owned()];
            let mut args: Vec<SqlValue> = vec![SqlValue::Text(workspace.to_string())];
            if let Some(number) = &filter.phone_number_id {
                conditions.push("phone_number_id = ?".into());
                args.push(SqlValue::Text(number.to_string()));
            }
            if let Some(agent) = &filter.agent_id {
                conditions
                    .push("id IN (SELECT call_id FROM call_attempts WHERE agent_id = ?)".into());
                args.push(SqlValue::Text(agent.to_string()));
            }
            if let Some(outcome) = filter.outcome {
                conditions.push("outcome = ?".into());
                args.push(SqlValue::Text(outcome.as_str().into()));
            }
            if let Some(since) = filter.since {
                conditions.push("started_at >= ?".into());
                args.push(SqlValue::Integer(since.as_millis()));
            }
            if let Some(until) = filter.until {
                conditions.push("started_at < ?".into());
                args.push(SqlValue::Integer(until.as_millis()));
            }
            let where_clause = conditions.join(" AND ");
            let total: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM calls WHERE {where_clause}"),
                    params_from_iter(args.iter()),
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let mut page_args = args.clone();
            page_args.push(SqlValue::Integer(i64::from(page.limit)));
            page_args.push(SqlValue::Integer(page.offset() as i64));
            let mut calls = conn
                .prepare_cached(&format!(
                    "SELECT {CALL_COLUMNS} FROM calls WHERE {where_clause}
                     ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(params_from_iter(page_args.iter()), call_from_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(map_error)?;
            for call in &mut calls {
                attempts_of(conn, call)?;
            }
            Ok((calls, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn get_call(
        &self,
        workspace: &WorkspaceId,
        id: &CallId,
    ) -> Result<Option<Call>, StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.read(move |conn| {
            let call = conn
                .prepare_cached(&format!(
                    "SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1 AND workspace_id = ?2"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row([id.as_str(), workspace.as_str()], call_from_row)
                        .optional()
                })
                .map_err(map_error)?;
            match call {
                Some(mut call) => {
                    attempts_of(conn, &mut call)?;
                    Ok(Some(call))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn call_activity(
        &self,
        workspace: &WorkspaceId,
        since: Timestamp,
        unroutable_since: Timestamp,
    ) -> Result<Vec<NumberCallActivity>, StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT phone_number_id, max(started_at),
                        sum(CASE WHEN outcome = 'unroutable' AND started_at >= ?3 THEN 1 ELSE 0 END)
                 FROM calls WHERE workspace_id = ?1 AND started_at >= ?2 GROUP BY phone_number_id",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![
                        workspace.as_str(),
                        since.as_millis(),
                        unroutable_since.as_millis()
                    ],
                    |row| {
                        Ok(NumberCallActivity {
                            phone_number_id: parse_id(
                                row.get(0)?,
                                PhoneNumberId::parse,
                                "phone number id",
                            )?,
                            last_call_at: Timestamp::from_millis(row.get(1)?),
                            unroutable_calls: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                        })
                    },
                )?
                .collect()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn delete_calls_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write(move |tx| {
            let deleted = tx
                .execute(
                    "DELETE FROM calls WHERE started_at < ?1",
                    [before.as_millis()],
                )
                .map_err(map_error)?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE event_type LIKE 'call.%' AND created_at < ?1",
                [before.as_millis()],
            )
            .map_err(map_error)?;
            Ok(deleted as u64)
        })
        .await
    }
}
