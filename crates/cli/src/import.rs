//! `switchboard numbers import`: bring a portfolio of numbers in from a CSV file.
//!
//! All or nothing: every row is checked first, and a single bad row imports nothing. The error
//! names every bad line and why, so one pass over the file fixes them all.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use switchboard_api::routes::reports::EXPORT_COLUMNS;
use switchboard_domain::{
    Capabilities, E164, Money, NICKNAME_MAX_CHARS, NumberStatus, NumberType, PhoneNumberId,
    WorkspaceId,
};
use switchboard_store::{Actor, NewPhoneNumber, Store, StoreError};

const COLUMNS: &[&str] = &[
    "phone_number",
    "provider",
    "type",
    "monthly_cost_usd",
    "capabilities",
    "nickname",
    "label",
    "status",
];
/// Provider recorded when the file has no `provider` column (or an empty cell).
pub const DEFAULT_PROVIDER: &str = "imported";
const LABEL_MAX_CHARS: usize = 255;
const PROVIDER_MAX_CHARS: usize = 32;

/// A problem with one line of the file.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

/// The checked file: each good row with its line number, in file order, and every problem
/// found in the others.
#[derive(Debug, Default)]
pub struct CheckedRows {
    pub rows: Vec<(u64, NewPhoneNumber)>,
    pub errors: Vec<LineError>,
}

/// Line numbers as an editor shows them, from byte offsets: a line ends at `\n`, `\r\n` or a
/// lone `\r`, whatever program saved the file.
struct LineStarts<'a> {
    bytes: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> LineStarts<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        let mut starts = vec![0];
        for (i, byte) in bytes.iter().enumerate() {
            let ends_line = *byte == b'\n' || (*byte == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if ends_line {
                starts.push(i + 1);
            }
        }
        Self { bytes, starts }
    }

    /// The 1-based line of the record the csv reader places at byte `offset`. The reader
    /// ends a record at the `\r` of a `\r\n` and may place the next one at its `\n`, so
    /// line breaks at the offset are stepped over first.
    fn line_of(&self, offset: u64) -> u64 {
        let mut offset = usize::try_from(offset).unwrap_or(usize::MAX);
        while matches!(self.bytes.get(offset), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        self.starts.partition_point(|start| *start <= offset) as u64
    }
}

/// Which column holds which field.
struct Header {
    index: HashMap<&'static str, usize>,
}

impl Header {
    fn parse(record: &csv::StringRecord) -> Result<Self> {
        let mut index = HashMap::new();
        for (position, name) in record.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}');
            // An export's other columns (ids, derived and per-workspace fields, times) say
            // nothing an import into this workspace can keep: they are passed over, so an
            // export reads back as it is.
            if EXPORT_COLUMNS.contains(&name) && !COLUMNS.contains(&name) {
                continue;
            }
            let Some(known) = COLUMNS.iter().find(|c| **c == name) else {
                bail!(
                    "unknown column {name:?} in the header; known columns: {}",
                    COLUMNS.join(", ")
                );
            };
            if index.insert(*known, position).is_some() {
                bail!("column {name:?} appears twice in the header");
            }
        }
        if !index.contains_key("phone_number") {
            bail!("the header has no phone_number column (the first line must name the columns)");
        }
        Ok(Self { index })
    }

    /// The trimmed cell of `column`; `None` when the column is absent or the cell empty.
    fn cell<'r>(&self, record: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        let value = record.get(*self.index.get(column)?)?.trim();
        (!value.is_empty()).then_some(value)
    }
}

/// Checks one row; every problem of the row is reported, not just the first.
fn parse_row(header: &Header, record: &csv::StringRecord) -> Result<NewPhoneNumber, Vec<String>> {
    let mut problems = Vec::new();
    let number = match header.cell(record, "phone_number") {
        None => {
            problems.push("phone_number is empty".to_owned());
            None
        }
        Some(raw) => E164::parse(raw)
            .map_err(|e| problems.push(format!("phone_number {raw:?} {e}")))
            .ok(),
    };
    let number_type = header.cell(record, "type").map(|raw| {
        NumberType::parse(raw)
            .map_err(|e| problems.push(format!("type {raw:?} {e}")))
            .ok()
    });
    let monthly_cost = match header.cell(record, "monthly_cost_usd") {
        None => Some(Money::ZERO),
        Some(raw) => Money::parse(raw)
            .map_err(|e| problems.push(format!("monthly_cost_usd {raw:?} {e}")))
            .ok(),
    };
    let capabilities = match header.cell(record, "capabilities") {
        None => Some(Capabilities::VOICE),
        Some(raw) => Capabilities::parse_list(raw)
            .map_err(|e| problems.push(format!("capabilities {e}")))
            .ok(),
    };
    let status = match header.cell(record, "status") {
        None => Some(NumberStatus::Active),
        // `pending` marks a purchase in flight, which the stale-claim sweep would release at
        // its provider: an imported number is one that is held.
        Some(raw) => match NumberStatus::parse(raw) {
            Ok(NumberStatus::Pending) => {
                problems.push(format!(
                    "status {raw:?} is for purchases in flight; import numbers as active"
                ));
                None
            }
            Ok(status) => Some(status),
            Err(e) => {
                problems.push(format!("status {raw:?} {e}"));
                None
            }
        },
    };
    let provider = header.cell(record, "provider").unwrap_or(DEFAULT_PROVIDER);
    let provider_ok = provider.len() <= PROVIDER_MAX_CHARS
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !provider_ok {
        problems.push(format!(
            "provider {provider:?} must be up to {PROVIDER_MAX_CHARS} characters of a-z, 0-9, _ and -"
        ));
    }
    let nickname = header.cell(record, "nickname");
    if nickname.is_some_and(|n| n.chars().count() > NICKNAME_MAX_CHARS) {
        problems.push(format!(
            "nickname must be shorter than or equal to {NICKNAME_MAX_CHARS} characters"
        ));
    }
    let label = header.cell(record, "label");
    if label.is_some_and(|l| l.chars().count() > LABEL_MAX_CHARS) {
        problems.push(format!(
            "label must be shorter than or equal to {LABEL_MAX_CHARS} characters"
        ));
    }
    match (number, number_type, monthly_cost, capabilities, status) {
        (Some(number), number_type, Some(monthly_cost), Some(capabilities), Some(status))
            if problems.is_empty() =>
        {
            Ok(NewPhoneNumber {
                number_type: number_type.flatten().unwrap_or(number.derived_type()),
                number,
                monthly_cost,
                capabilities,
                label: label.map(str::to_owned),
                nickname: nickname.map(str::to_owned),
                inbound_agent_id: None,
                status,
                provider: provider.to_owned(),
                sip_trunk_enabled: false,
            })
        }
        _ => Err(problems),
    }
}

/// Reads and checks the whole file: the good rows in file order with their line numbers, and
/// every problem of the others.
pub fn parse_csv(input: &[u8], progress: &ProgressBar) -> Result<CheckedRows> {
    let lines = LineStarts::of(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header = Header::parse(reader.headers().context("cannot read the header line")?)?;
    let mut checked = CheckedRows::default();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for (index, result) in reader.records().enumerate() {
        progress.inc(1);
        let line_at = |position: Option<&csv::Position>| {
            position.map_or(index as u64 + 2, |p| lines.line_of(p.byte()))
        };
        let record = match result {
            Ok(record) => record,
            Err(error) => {
                let line = line_at(error.position());
                let reason = match error.kind() {
                    csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    _ => error.to_string(),
                };
                checked.errors.push(LineError { line, reason });
                continue;
            }
        };
        let line = line_at(record.position());
        match parse_row(&header, &record) {
            Ok(row) => {
                if let Some(first) = first_line_of.get(row.number.as_str()) {
                    checked.errors.push(LineError {
                        line,
                        reason: format!(
                            "phone_number {} is a duplicate of line {first}",
                            row.number
                        ),
                    });
                } else {
                    first_line_of.insert(row.number.as_str().to_owned(), line);
                    checked.rows.push((line, row));
                }
            }
            Err(problems) => checked.errors.push(LineError {
                line,
                reason: problems.join("; "),
            }),
        }
    }
    Ok(checked)
}

fn progress_bar(len: u64, message: &'static str) -> ProgressBar {
    // indicatif draws only when stderr is a terminal, so scripts see a clean stream.
    let bar = ProgressBar::new(len).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta})") {
        bar.set_style(style);
    }
    bar
}

pub async fn import_csv(
    store: &dyn Store,
    workspace: &WorkspaceId,
    path: &Path,
) -> Result<Vec<PhoneNumberId>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    let line_count = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let bar = progress_bar(line_count.saturating_sub(1), "checking");
    let CheckedRows { rows, mut errors } =
        parse_csv(&bytes, &bar).with_context(|| format!("{}", path.display()))?;
    bar.finish_and_clear();

    // Numbers someone already holds are bad lines too, reported with the others in one pass.
    let numbers: Vec<E164> = rows.iter().map(|(_, row)| row.number.clone()).collect();
    let taken = store.registered_numbers(&numbers).await?;
    errors.extend(
        rows.iter()
            .filter(|(_, row)| taken.contains(&row.number))
            .map(|(line, row)| LineError {
                line: *line,
                reason: format!("phone_number {} is already registered", row.number),
            }),
    );
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        bail!(describe(path, &errors));
    }

    let spinner =
        ProgressBar::new_spinner().with_message(format!("writing {} numbers", rows.len()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = store
        .import_phone_numbers(
            workspace,
            rows.into_iter().map(|(_, row)| row).collect(),
            &Actor::cli(),
        )
        .await;
    spinner.finish_and_clear();
    match result {
        Ok(ids) => Ok(ids),
        // Someone registered one of the numbers between the check and the write.
        Err(StoreError::Conflict(message)) => {
            bail!("nothing imported from {}: {message}", path.display())
        }
        Err(other) => Err(other.into()),
    }
}

/// The import's error: a summary line, then one line per bad row.
fn describe(path: &Path, errors: &[LineError]) -> String {
    let mut text = format!(
        "nothing imported: {} bad line{} in {}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        path.display()
    );
    for error in errors {
        let _ = write!(text, "\n  line {}: {}", error.line, error.reason);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Vec<(u64, NewPhoneNumber)>, Vec<LineError>> {
        let checked = parse_csv(text.as_bytes(), &ProgressBar::hidden()).expect("header is valid");
        if checked.errors.is_empty() {
            Ok(checked.rows)
        } else {
            Err(checked.errors)
        }
    }

    /// The same file saved with LF, CRLF (a spreadsheet on Windows), CR, and with a BOM:
    /// the same line numbers.
    #[test]
    fn line_numbers_do_not_depend_on_line_endings() {
        let lines = [
            "phone_number,nickname",
            "+912234567890,ok",
            "+1 123,bad",
            "\"+14155552671\",\"two",
            "lines\"",
            "+91 22 3456 7890,again",
        ];
        for (ending, bom) in [("\n", ""), ("\r\n", ""), ("\r", ""), ("\r\n", "\u{feff}")] {
            let text = format!("{bom}{}{ending}", lines.join(ending));
            let errors = parse(&text).expect_err("bad rows");
            let found: Vec<(u64, bool)> = errors
                .iter()
                .map(|e| (e.line, e.reason.contains("duplicate of line 2")))
                .collect();
            assert_eq!(
                found,
                [(3, false), (6, true)],
                "{ending:?} {bom:?}: {errors:?}"
            );
        }
    }

    #[test]
    fn defaults_and_derivations() {
        let rows = parse("phone_number\n+912234567890\n").expect("valid");
        let (line, row) = &rows[0];
        assert_eq!(*line, 2);
        assert_eq!(row.number.country_code(), "IN");
        assert_eq!(row.number_type, NumberType::Local);
        assert_eq!(row.monthly_cost, Money::ZERO);
        assert_eq!(row.capabilities, Capabilities::VOICE);
        assert_eq!(row.status, NumberStatus::Active);
        assert_eq!(row.provider, DEFAULT_PROVIDER);
        assert_eq!(row.nickname, None);
    }

    #[test]
    fn every_bad_line_is_named() {
        let long = "x".repeat(256);
        let text = format!(
            "phone_number,nickname,monthly_cost_usd\n+912234567890,ok,1.15\n+1 555,,\n+91 22 3456 7890,,\n+14155552671,{long},-3\n"
        );
        let errors = parse(&text).expect_err("bad rows");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].reason.contains("not a valid phone number"),
            "{}",
            errors[0].reason
        );
        assert_eq!(errors[1].line, 4);
        assert!(
            errors[1].reason.contains("duplicate of line 2"),
            "{}",
            errors[1].reason
        );
        assert_eq!(errors[2].line, 5);
        assert!(
            errors[2]
                .reason
                .contains("nickname must be shorter than or equal to 255 characters")
        );
        assert!(errors[2].reason.contains("monthly_cost_usd"));
    }

    #[test]
    fn pending_numbers_are_not_imported() {
        let errors = parse("phone_number,status\n+912234567890,pending\n+14155552671,active\n")
            .expect_err("a pending row");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(
            errors[0].reason,
            "status \"pending\" is for purchases in flight; import numbers as active"
        );
    }

    #[test]
    fn header_problems() {
        assert!(parse_csv(b"nickname\nfoo\n", &ProgressBar::hidden()).is_err());
        assert!(parse_csv("phone_number,nick\n".as_bytes(), &ProgressBar::hidden()).is_err());
        assert!(
            parse_csv(
                "phone_number,phone_number\n".as_bytes(),
                &ProgressBar::hidden()
            )
            .is_err()
        );
    }
}
