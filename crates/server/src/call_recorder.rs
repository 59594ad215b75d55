//! The call log's group commit: every call that rings while the previous batch is being
//! written is recorded in the next one, in one transaction.
//!
//! A carrier's voice webhook must be answered fast, and the answer depends on the call being
//! recorded (a repeated request must find the first, a fallback must find its call). One
//! transaction per call made the answer path a fifth of a GET's speed on SQLite (one writer)
//! and a tenth on PostgreSQL (a commit, and its WAL flush, per call). Here each call still
//! waits for its record to commit — nothing is answered from memory alone, and a crash loses
//! nothing answered — but the calls that arrive together share one commit.

use std::sync::{Arc, OnceLock};
use switchboard_store::{NewCall, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most calls one transaction records; more wait for the next.
const MAX_BATCH: usize = 256;

/// Calls waiting to be written; a full queue makes callers wait their turn.
const QUEUE_CAPACITY: usize = 4096;

struct Pending {
    call: NewCall,
    recorded: oneshot::Sender<Result<bool, StoreError>>,
}

/// Records calls in batches ([`CallRecorder::record`]); one writer task per replica, started
/// with the first call.
pub struct CallRecorder {
    store: Arc<dyn Store>,
    queue: OnceLock<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecorder").finish_non_exhaustive()
    }
}

impl CallRecorder {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Records the call with the others that arrive with it (see
    /// [`CallStore::start_calls`](switchboard_store::CallStore::start_calls)): whether it was
    /// recorded now (`false`: the log held it already). Returns once its batch committed.
    pub async fn record(&self, call: NewCall) -> Result<bool, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            tokio::spawn(write_batches(self.store.clone(), receiver));
            sender
        });
        let (recorded, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the call recorder has stopped".into());
        queue
            .send(Pending { call, recorded })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer: takes whatever is queued (up to [`MAX_BATCH`]) and records it in one
/// transaction, until every sender is gone.
async fn write_batches(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (calls, replies): (Vec<NewCall>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.call, pending.recorded))
            .unzip();
        metrics::histogram!("call_record_batch_size").record(calls.len() as f64);
        match store.start_calls(calls.clone()).await {
            Ok(recorded) => {
                for (reply, recorded) in replies.into_iter().zip(recorded) {
                    let _ = reply.send(Ok(recorded));
                }
            }
            // One bad call must not cost the others their record: each is tried on its own,
            // and gets its own answer.
            Err(error) if calls.len() > 1 => {
                tracing::warn!(%error, calls = calls.len(), "call log: a batch failed; recording its calls one by one");
                for (call, reply) in calls.into_iter().zip(replies) {
                    let result = store
                        .start_calls(vec![call])
                        .await
                        .map(|recorded| recorded.first().copied().unwrap_or(false));
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(error));
                }
            }
        }
    }
}
