//! The call log.

use crate::outbox::queue_call_event;
use crate::queries::*;
use crate::rows::{corrupt, get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_domain::{
    AgentId, CallId, CallOutcome, Destination, PhoneNumberId, Timestamp, WorkspaceId,
};
use switchboard_store::{
    Call, CallAttempt, CallFilter, CallRoute, CallStore, LiveCalls, NewCall, NextStep,
    NumberCallActivity, PageRequest, StoreError, plan_column, plan_from_column,
};
use switchboard_store::{call_event_data, call_event_message_id};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

const CALL_COLUMNS: &str = "id, workspace_id, phone_number_id, phone_number, carrier, \
    carrier_call_id, caller, rule_index, rule_name, reason, plan, outcome, started_at, \
    answered_at, ended_at, duration_secs";

/// A number's route in one statement: the number, and the destinations of the agents its
/// route names (its inbound agent and every `agent_id` in its policy) as two parallel arrays.
/// Prepared once per connection.
static FIND_CALL_ROUTE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {PHONE_NUMBER_COLUMNS}, named.ids, named.destinations
         FROM phone_numbers p
         LEFT JOIN LATERAL (
             SELECT array_agg(a.id) AS ids, array_agg(a.destination) AS destinations
             FROM agents a
             WHERE a.workspace_id = p.workspace_id
               AND a.id IN (SELECT p.inbound_agent_id
                            UNION SELECT jsonb_path_query(p.routing::jsonb, '$.**.agent_id') #>> '{{}}')
         ) named ON true
         WHERE p.phone_number = $1"
    )
});

/// A new call in one statement (see `start_calls`): the call unless the log holds it, its
/// first attempt (`$16`, the destination, when it has one), and its `call.started` (and, for
/// a call over as it starts, `call.completed`: `$19`) deliveries to the endpoints that name
/// them. Answers 1 when the call was recorded now, 0 when it was there already.
static START_CALL_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let deliveries = |message: &str, event_type: &str, data: &str| {
        format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, ordering_key, next_attempt_at, ping_data, created_at, updated_at)
             SELECT {}, e.id, {message}, '{event_type}', call.id, $13, {data}, $13, $13
             FROM call, webhook_endpoints e
             WHERE {message} IS NOT NULL AND e.workspace_id = $2 AND e.enabled
               AND position(' {event_type} ' in e.event_types) > 0",
            crate::outbox::RANDOM_DELIVERY_ID
        )
    };
    format!(
        "WITH call AS (
             INSERT INTO calls ({CALL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, NULL)
             ON CONFLICT (carrier, carrier_call_id) DO NOTHING
             RETURNING id
         ), attempt AS (
             INSERT INTO call_attempts (call_id, position, phone_number_id, agent_id, destination, started_at)
             SELECT call.id, 0, $3, $15, $16, $13 FROM call WHERE $16::text IS NOT NULL
         ), started AS ({}), completed AS ({})
         SELECT count(*) FROM call",
        deliveries("$17::text", "call.started", "$18"),
        deliveries("$19::text", "call.completed", "$20"),
    )
});

fn outcome_from(text: Option<String>) -> Result<Option<CallOutcome>, StoreError> {
    text.map(|t| CallOutcome::parse(&t).ok_or_else(|| corrupt("call outcome", &t)))
        .transpose()
}

fn call_from_row(row: &Row) -> Result<Call, StoreError> {
    let plan: String = get(row, 10)?;
    Ok(Call {
        id: parse_id(get(row, 0)?, CallId::parse, "call id")?,
        workspace_id: parse_id(get(row, 1)?, WorkspaceId::parse, "workspace id")?,
        phone_number_id: parse_id(get(row, 2)?, PhoneNumberId::parse, "phone number id")?,
        phone_number: get(row, 3)?,
        carrier: get(row, 4)?,
        carrier_call_id: get(row, 5)?,
        caller: get(row, 6)?,
        rule_index: get::<Option<i32>>(row, 7)?.and_then(|i| u32::try_from(i).ok()),
        rule_name: get(row, 8)?,
        reason: get(row, 9)?,
        plan: plan_from_column(&plan).map_err(|e| corrupt("call plan", &e))?,
        outcome: outcome_from(get(row, 11)?)?,
        started_at: Timestamp::from_millis(get(row, 12)?),
        answered_at: get::<Option<i64>>(row, 13)?.map(Timestamp::from_millis),
        ended_at: get::<Option<i64>>(row, 14)?.map(Timestamp::from_millis),
        duration_secs: get(row, 15)?,
        attempts: Vec::new(),
    })
}

async fn attempts_of(client: &impl GenericClient, call: &mut Call) -> Result<(), StoreError> {
    let rows = client
        .query(
            "SELECT position, agent_id, destination, outcome, started_at, ended_at
             FROM call_attempts WHERE call_id = $1 ORDER BY position",
            &[&call.id.as_str()],
        )
        .await
        .map_err(map_error)?;
    call.attempts = rows
        .iter()
        .map(|row| {
            Ok(CallAttempt {
                position: u32::try_from(get::<i32>(row, 0)?).unwrap_or(0),
                agent_id: optional_agent(get(row, 1)?)?,
                destination: get(row, 2)?,
                outcome: outcome_from(get(row, 3)?)?,
                started_at: Timestamp::from_millis(get(row, 4)?),
                ended_at: get::<Option<i64>>(row, 5)?.map(Timestamp::from_millis),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(())
}

/// The call, locked for the transaction when `lock` (reports about one call are applied one
/// at a time, on any replica).
async fn read_call(
    client: &impl GenericClient,
    carrier: &str,
    carrier_call_id: &str,
    lock: bool,
) -> Result<Option<Call>, StoreError> {
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE carrier = $1 AND carrier_call_id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let Some(row) = client
        .query_opt(&sql, &[&carrier, &carrier_call_id])
        .await
        .map_err(map_error)?
    else {
        return Ok(None);
    };
    let mut call = call_from_row(&row)?;
    attempts_of(client, &mut call).await?;
    Ok(Some(call))
}

async fn start_attempt(
    client: &impl GenericClient,
    call: &Call,
    position: u32,
    at: Timestamp,
) -> Result<(), StoreError> {
    let Some(target) = call.plan.get(position as usize) else {
        return Ok(());
    };
    client
        .execute(
            "INSERT INTO call_attempts (call_id, position, phone_number_id, agent_id, destination, started_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id, position) DO NOTHING",
            &[
                &call.id.as_str(),
                &i32::try_from(position).unwrap_or(i32::MAX),
                &call.phone_number_id.as_str(),
                &target.agent_id.as_ref().map(AgentId::as_str),
                &target.destination.as_str(),
                &at.as_millis(),
            ],
        )
        .await
        .map_err(map_error)?;
    Ok(())
}

#[async_trait]
impl CallStore for PostgresStore {
    async fn find_call_route(&self, number: &str) -> Result<Option<CallRoute>, StoreError> {
        let client = self.point_read_client().await?;
        let statement = client
            .prepare_cached(&FIND_CALL_ROUTE_SQL)
            .await
            .map_err(map_error)?;
        let Some(row) = client
            .query_opt(&statement, &[&number])
            .await
            .map_err(map_error)?
        else {
            return Ok(None);
        };
        let number = phone_number_from_row(&row)?;
        let ids: Vec<String> = get::<Option<Vec<String>>>(&row, 20)?.unwrap_or_default();
        let stored: Vec<Option<String>> =
            get::<Option<Vec<Option<String>>>>(&row, 21)?.unwrap_or_default();
        let mut found = std::collections::HashMap::new();
        for (id, destination) in ids.into_iter().zip(stored) {
            let destination = destination
                .map(|d| Destination::parse(&d).map_err(|_| corrupt("agent destination", &d)))
                .transpose()?;
            found.insert(id, destination);
        }
        let destinations = CallRoute::named_agents(&number)
            .into_iter()
            .map(|agent| {
                let destination = found.get(agent.as_str()).cloned().flatten();
                (agent, destination)
            })
            .collect();
        Ok(Some(CallRoute {
            number,
            destinations,
        }))
    }

    async fn live_calls(
        &self,
        number: &PhoneNumberId,
        since: Timestamp,
    ) -> Result<Vec<LiveCalls>, StoreError> {
        let rows = self
            .point_read_client()
            .await?
            .query(
                "SELECT agent_id, destination, count(*) FROM call_attempts
                 WHERE phone_number_id = $1 AND ended_at IS NULL AND started_at >= $2
                 GROUP BY agent_id, destination",
                &[&number.as_str(), &since.as_millis()],
            )
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                Ok(LiveCalls {
                    agent_id: optional_agent(get(row, 0)?)?,
                    destination: get(row, 1)?,
                    count: u32::try_from(get::<i64>(row, 2)?).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn start_calls(&self, calls: Vec<NewCall>) -> Result<Vec<bool>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let start = tx
            .prepare_cached(&START_CALL_SQL)
            .await
            .map_err(map_error)?;
        // One statement per call, all sent together (tokio-postgres pipelines them on the
        // connection), and one commit for the batch.
        let inserted = futures_util::future::try_join_all(calls.iter().map(|new| {
            let call = new.recorded(CallId::generate());
            let (tx, start) = (&tx, &start);
            async move {
                let first = call.attempts.first();
                // Both events carry the call as it starts; one over before any attempt
                // (unroutable, rejected) is complete as it starts.
                let data = call_event_data(&call);
                let completed_id = call
                    .ended_at
                    .map(|_| call_event_message_id(&call.id, "call.completed"));
                let row = tx
                    .query_one(
                        start,
                        &[
                            &call.id.as_str(),
                            &call.workspace_id.as_str(),
                            &call.phone_number_id.as_str(),
                            &call.phone_number,
                            &call.carrier,
                            &call.carrier_call_id,
                            &call.caller,
                            &call
                                .rule_index
                                .map(|i| i32::try_from(i).unwrap_or(i32::MAX)),
                            &call.rule_name,
                            &call.reason,
                            &plan_column(&call.plan),
                            &call.outcome.map(CallOutcome::as_str),
                            &call.started_at.as_millis(),
                            &call.ended_at.map(Timestamp::as_millis),
                            &first.and_then(|a| a.agent_id.as_ref().map(AgentId::as_str)),
                            &first.map(|a| a.destination.as_str()),
                            &call_event_message_id(&call.id, "call.started"),
                            &data,
                            &completed_id.as_deref(),
                            &completed_id.as_ref().map(|_| data.as_str()),
                        ],
                    )
                    .await
                    .map_err(map_error)?;
                Ok::<_, StoreError>(get::<i64>(&row, 0)? == 1)
            }
        }))
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(inserted)
    }

    async fn find_call(
        &self,
        carrier: &str,
        carrier_call_id: &str,
    ) -> Result<Option<Call>, StoreError> {
        let client = self.client().await?;
        read_call(&client, carrier, carrier_call_id, false).await
    }

    async fn end_attempt(
        &self,
        carrier: &str,
        carrier_call_id: &str,
        position: u32,
        outcome: CallOutcome,
        at: Timestamp,
    ) -> Result<Option<NextStep>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(call) = read_call(&tx, carrier, carrier_call_id, true).await? else {
            return Ok(None);
        };
        let report = call.report_attempt(position, outcome);
        if report.record {
            // A connected attempt holds its share of the cap until the call ends.
            let ended = (outcome != CallOutcome::Completed).then_some(at.as_millis());
            tx.execute(
                "UPDATE call_attempts SET outcome = $1, ended_at = coalesce(ended_at, $2) WHERE call_id = $3 AND position = $4",
                &[&outcome.as_str(), &ended, &call.id.as_str(), &i32::try_from(position).unwrap_or(i32::MAX)],
            )
            .await
            .map_err(map_error)?;
        }
        if report.answered {
            tx.execute(
                "UPDATE calls SET answered_at = $1 WHERE id = $2",
                &[&at.as_millis(), &call.id.as_str()],
            )
            .await
            .map_err(map_error)?;
        }
        if let Some(final_outcome) = report.call_outcome {
            tx.execute(
                "UPDATE calls SET outcome = $1 WHERE id = $2 AND (outcome IS NULL OR $1 = 'completed')",
                &[&final_outcome.as_str(), &call.id.as_str()],
            )
            .await
            .map_err(map_error)?;
        }
        if let NextStep::Connect(next, _) = &report.next {
            start_attempt(&tx, &call, *next, at).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(Some(report.next))
    }

    async fn end_call(
        &self,
        carrier: &str,
        carrier_call_id: &str,
        status: CallOutcome,
        duration_secs: Option<i64>,
        at: Timestamp,
    ) -> Result<Option<Call>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(call) = read_call(&tx, carrier, carrier_call_id, true).await? else {
            return Ok(None);
        };
        let outcome = call.final_outcome(status);
        tx.execute(
            "UPDATE calls SET outcome = $1, ended_at = coalesce(ended_at, $2),
                 duration_secs = coalesce($3, duration_secs) WHERE id = $4",
            &[
                &outcome.as_str(),
                &at.as_millis(),
                &duration_secs,
                &call.id.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        tx.execute(
            "UPDATE call_attempts SET ended_at = $1 WHERE call_id = $2 AND ended_at IS NULL",
            &[&at.as_millis(), &call.id.as_str()],
        )
        .await
        .map_err(map_error)?;
        let ended = read_call(&tx, carrier, carrier_call_id, false).await?;
        if let Some(ended) = &ended
            && call.ended_at.is_none()
        {
            queue_call_event(&tx, ended, "call.completed", at).await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(ended)
    }

    async fn list_calls(
        &self,
        workspace: &WorkspaceId,
        filter: &CallFilter,
        page: PageRequest,
    ) -> Result<(Vec<Call>, u64), StoreError> {
        let mut conditions = vec!["workspace_id = $1".to_owned()];
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(workspace.to_string())];
        let mut add = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
            args.push(value);
            conditions.push(condition.replace('?', &format!("${}", args.len())));
        };
        if let Some(number) = &filter.phone_number_id {
            add("phone_number_id = ?", Box::new(number.to_string()));
        }
        if let Some(agent) = &filter.agent_id {
            add(
                "id IN (SELECT call_id FROM call_attempts WHERE agent_id = ?)",
                Box::new(agent.to_string()),
            );
        }
        if let Some(outcome) = filter.outcome {
            add("outcome = ?", Box::new(outcome.as_str().to_owned()));
        }
        if let Some(since) = filter.since {
            add("started_at >= ?", Box::new(since.as_millis()));
        }
        if let Some(until) = filter.until {
            add("started_at < ?", Box::new(until.as_millis()));
        }
        let where_clause = conditions.join(" AND ");
        let client = self.client().await?;
        let params: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let total: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM calls WHERE {where_clause}"),
                &params,
            )
            .await
            .map_err(map_error)
            .and_then(|row| get(&row, 0))?;
        let (limit, offset) = (i64::from(page.limit), page.offset() as i64);
        let mut page_params = params.clone();
        page_params.push(&limit);
        page_params.push(&offset);
        let rows = client
            .query(
                &format!(
                    "SELECT {CALL_COLUMNS} FROM calls WHERE {where_clause}
                     ORDER BY started_at DESC, id DESC LIMIT ${} OFFSET ${}",
                    params.len() + 1,
                    params.len() + 2
                ),
                &page_params,
            )
            .await
            .map_err(map_error)?;
        let mut calls = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut call = call_from_row(row)?;
            attempts_of(&client, &mut call).await?;
            calls.push(call);
        }
        Ok((calls, u64::try_from(total).unwrap_or(0)))
    }

    async fn get_call(
        &self,
        workspace: &WorkspaceId,
        id: &CallId,
    ) -> Result<Option<Call>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                &format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1 AND workspace_id = $2"),
                &[&id.as_str(), &workspace.as_str()],
            )
            .await
            .map_err(map_error)?
        else {
            return Ok(None);
        };
        let mut call = call_from_row(&row)?;
        attempts_of(&client, &mut call).await?;
        Ok(Some(call))
    }

    async fn call_activity(
        &self,
        workspace: &WorkspaceId,
        since: Timestamp,
        unroutable_since: Timestamp,
    ) -> Result<Vec<NumberCallActivity>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT phone_number_id, max(started_at),
                        CAST(count(*) FILTER (WHERE outcome = 'unroutable' AND started_at >= $3) AS BIGINT)
                 FROM calls WHERE workspace_id = $1 AND started_at >= $2 GROUP BY phone_number_id",
                &[&workspace.as_str(), &since.as_millis(), &unroutable_since.as_millis()],
            )
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                Ok(NumberCallActivity {
                    phone_number_id: parse_id(
                        get(row, 0)?,
                        PhoneNumberId::parse,
                        "phone number id",
                    )?,
                    last_call_at: Timestamp::from_millis(get(row, 1)?),
                    unroutable_calls: u64::try_from(get::<i64>(row, 2)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn delete_calls_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let deleted = tx
            .execute(
                "DELETE FROM calls WHERE started_at < $1",
                &[&before.as_millis()],
            )
            .await
            .map_err(map_error)?;
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE event_type LIKE 'call.%' AND created_at < $1",
            &[&before.as_millis()],
        )
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(deleted)
    }
}
