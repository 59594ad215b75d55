//! What the commands print on stdout: one JSON object, for scripts to read.
//!
//! A reader that goes away early (`switchboard numbers import … | head -c 100`) is not an
//! error of the command: its work is done, so the rest of the output is dropped quietly
//! instead of ending in a panic or an error line.

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::{ErrorKind, Write};

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    write_stdout(&line)
}

/// Free text for a person at the terminal (the demo banner).
pub fn print_text(text: &str) -> Result<()> {
    write_stdout(&format!("{text}\n"))
}

/// Writes `text` to stdout as it is (the OpenAPI document ends in its own newline).
pub fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("could not write to standard output"),
    }
}
