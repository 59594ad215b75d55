//! What the commands print on stdout: one JSON object, for scripts to read.
#![allow(
    clippy::print_stdout,
    reason = "this module is the command line's stdout"
)]

use anyhow::Result;
use serde::Serialize;

pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Free text for a person at the terminal (the demo banner).
pub fn print_text(text: &str) {
    println!("{text}");
}
