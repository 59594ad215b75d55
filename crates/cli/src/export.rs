//! `switchboard numbers export`: every number of a workspace to stdout, streamed from the
//! database as the API's export is, with a count on a terminal.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{ErrorKind, Write};
use switchboard_api::routes::reports::ExportFormat;
use switchboard_domain::WorkspaceId;
use switchboard_store::Store;

pub async fn export(
    store: &dyn Store,
    workspace: &WorkspaceId,
    format: ExportFormat,
) -> Result<()> {
    let mut numbers = store.stream_phone_numbers(workspace, &Default::default());
    // indicatif draws only when stderr is a terminal, so a pipe sees a clean stream.
    let progress = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} exported {pos} numbers ({per_sec})")
    {
        progress.set_style(style);
    }
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = async {
        if let Some(header) = format.header() {
            out.write_all(&header)?;
        }
        while let Some(number) = numbers.recv().await {
            let number = number.map_err(std::io::Error::other)?;
            out.write_all(&format.line(number))?;
            progress.inc(1);
        }
        out.flush()
    };
    let result = written.await;
    progress.finish_and_clear();
    match result {
        // The reader went away (`| head`): its choice, not an error.
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("the export stopped"),
    }
}
