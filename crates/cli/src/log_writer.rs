//! Where log lines go: a shared buffer that one background thread writes to stderr in
//! batches. A request pays a copy of its line into the buffer; the writer thread is woken
//! once per batch (when a line lands in an empty buffer) and writes what gathered over a few
//! milliseconds with one `write`.
//!
//! `tracing-appender`'s non-blocking writer, used before, sends each line over a channel and
//! wakes its thread for it: under load that was a futex wake, a `sched_yield` and a `write`
//! per request (bench/RESULTS.md). Its guarantee is kept: no line is ever dropped — when the
//! buffer is full because stderr is slow, logging waits until the writer has taken it.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after the first of a batch arrives.
const GATHER: Duration = Duration::from_millis(5);
/// Past this many bytes waiting, logging waits for the writer (it is far behind).
const MAX_PENDING: usize = 8 * 1024 * 1024;

/// The writer handed to the `fmt` subscriber.
#[derive(Clone, Debug)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch starts, and when the buffer was taken (for waiting loggers).
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes what is left and stops the writer thread when dropped: keep it until exit.
#[derive(Debug)]
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer and the guard that flushes it; the thread starts here.
pub fn batched_stderr() -> (BatchedStderr, FlushOnDrop) {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared, &mut std::io::stderr())
        })
        // Only a process out of threads fails here, before serving anything.
        .expect("the log writer thread must start");
    let writer = BatchedStderr {
        shared: shared.clone(),
    };
    (
        writer,
        FlushOnDrop {
            shared,
            thread: Some(thread),
        },
    )
}

/// The writer thread: waits for a batch to start, lets it gather, writes it in one go; after
/// `closing`, writes what is left and returns.
fn write_batches(shared: &Shared, out: &mut impl Write) {
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.closing {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let closing = state.closing;
        drop(state);
        if !closing {
            std::thread::sleep(GATHER);
        }
        let batch = std::mem::take(&mut shared.lock().pending);
        shared.changed.notify_all();
        // Nowhere to report a failing stderr; the lines are lost either way.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        if closing {
            return;
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineSink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink(&self.shared)
    }
}

/// One event's output: the `fmt` layer writes a formatted line in one `write_all`.
#[derive(Debug)]
pub struct LineSink<'a>(&'a Shared);

impl Write for LineSink<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock();
        while state.pending.len() >= MAX_PENDING && !state.closing {
            state = self
                .0
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let starts_batch = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        drop(state);
        if starts_batch {
            self.0.changed.notify_all();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_arrives_in_order_and_the_guard_flushes() {
        let shared = Arc::new(Shared::default());
        let out = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (shared, out) = (shared.clone(), out.clone());
            move || {
                let mut written = Vec::new();
                write_batches(&shared, &mut written);
                out.lock().expect("lock").extend(written);
            }
        });
        let writer = BatchedStderr {
            shared: shared.clone(),
        };
        let mut expected = Vec::new();
        for i in 0..10_000 {
            let line = format!("line {i}\n");
            writer
                .make_writer()
                .write_all(line.as_bytes())
                .expect("write");
            expected.extend_from_slice(line.as_bytes());
        }
        drop(FlushOnDrop {
            shared,
            thread: Some(thread),
        });
        assert_eq!(*out.lock().expect("lock"), expected);
    }
}
