//! `switchboard numbers import`: bring a portfolio of numbers in from a CSV file.
//!
//! All or nothing: every row is checked first, and a single bad row imports nothing. The error
//! names every bad line and why, so one pass over the file fixes them all.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use switchboard_api::routes::reports::{EXPORT_COLUMNS, from_spreadsheet_safe};
use switchboard_domain::{
    Capabilities, E164, Money, NICKNAME_MAX_CHARS, NumberStatus, NumberType, PhoneNumberId,
    WorkspaceId,
};
use switchboard_providers::Provider;
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

/// The checked file: each good row with its line number, in file order, and the problems
/// found in the others. Once a row is bad nothing will be imported, so from then on only the
/// good rows' numbers are kept (for the "already registered" check): a failing import of a
/// large file stays small in memory.
#[derive(Debug, Default)]
pub struct CheckedRows {
    pub rows: Vec<(u64, NewPhoneNumber)>,
    /// The good rows' numbers once a bad row was found (`rows` is then empty).
    pub numbers_only: Vec<(u64, E164)>,
    /// The first [`MAX_REPORTED_ERRORS`] problems.
    pub errors: Vec<LineError>,
    /// Problems beyond those, counted.
    pub more_errors: u64,
}

/// How many bad lines an import names; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 1000;

impl CheckedRows {
    fn push_row(&mut self, line: u64, row: NewPhoneNumber) {
        if self.errors.is_empty() {
            self.rows.push((line, row));
        } else {
            self.numbers_only.push((line, row.number));
        }
    }

    fn push_error(&mut self, error: LineError) {
        if self.errors.is_empty() {
            self.numbers_only = self
                .rows
                .drain(..)
                .map(|(line, row)| (line, row.number))
                .collect();
            self.rows.shrink_to_fit();
        }
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(error);
        } else {
            self.more_errors += 1;
        }
    }

    /// Every good row's line and number.
    fn numbers(&self) -> impl Iterator<Item = (u64, &E164)> {
        self.rows
            .iter()
            .map(|(line, row)| (*line, &row.number))
            .chain(
                self.numbers_only
                    .iter()
                    .map(|(line, number)| (*line, number)),
            )
    }
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
    for column in ["nickname", "label"] {
        if header
            .cell(record, column)
            .is_some_and(|cell| cell.chars().any(char::is_control))
        {
            problems.push(format!(
                "{column} must not contain control characters (line breaks, tabs, NUL, escapes)"
            ));
        }
    }
    // An export defuses formulas in these cells with a leading `'`; read the text back.
    let nickname = header.cell(record, "nickname").map(from_spreadsheet_safe);
    if nickname.is_some_and(|n| n.chars().count() > NICKNAME_MAX_CHARS) {
        problems.push(format!(
            "nickname must be shorter than or equal to {NICKNAME_MAX_CHARS} characters"
        ));
    }
    let label = header.cell(record, "label").map(from_spreadsheet_safe);
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
    // Keyed by the number's digits (an E.164 number has at most 15): a fraction of the
    // memory of the numbers themselves, which a million-line file feels.
    let mut first_line_of: HashMap<u64, u64> = HashMap::new();
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
                    // A quote that is never closed swallows the rest of the file into one
                    // field, which the reader then reports as a short record.
                    csv::ErrorKind::UnequalLengths { .. }
                        if opens_unclosed_quote(input, error.position()) =>
                    {
                        UNCLOSED_QUOTE.to_owned()
                    }
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("has {len} fields, the header has {expected_len}")
                    }
                    _ => error.to_string(),
                };
                checked.push_error(LineError { line, reason });
                continue;
            }
        };
        let line = line_at(record.position());
        if record.iter().any(|field| field.contains(['\n', '\r']))
            && opens_unclosed_quote(input, record.position())
        {
            checked.push_error(LineError {
                line,
                reason: UNCLOSED_QUOTE.to_owned(),
            });
            continue;
        }
        match parse_row(&header, &record) {
            Ok(row) => {
                let digits = digits_of(&row.number);
                if let Some(first) = first_line_of.get(&digits) {
                    checked.push_error(LineError {
                        line,
                        reason: format!(
                            "phone_number {} is a duplicate of line {first}",
                            row.number
                        ),
                    });
                } else {
                    first_line_of.insert(digits, line);
                    checked.push_row(line, row);
                }
            }
            Err(problems) => checked.push_error(LineError {
                line,
                reason: problems.join("; "),
            }),
        }
    }
    Ok(checked)
}

/// The digits of an E.164 number as one integer (at most 15 digits, so it fits).
fn digits_of(number: &E164) -> u64 {
    number
        .as_str()
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0, |n, d| n * 10 + u64::from(d - b'0'))
}

/// How many numbers one "already registered" query asks about.
const REGISTERED_CHECK_CHUNK: usize = 10_000;

const UNCLOSED_QUOTE: &str =
    "has a quote (\") that is never closed: the rest of the file was read as one field";

/// Whether the record at `position` starts a quoted field that no quote closes: an odd
/// number of `"` from there to the end of the file.
fn opens_unclosed_quote(input: &[u8], position: Option<&csv::Position>) -> bool {
    let start = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
    input
        .get(start..)
        .is_some_and(|rest| rest.iter().filter(|b| **b == b'"').count() % 2 == 1)
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
    let mut checked = parse_csv(&bytes, &bar).with_context(|| format!("{}", path.display()))?;
    drop(bytes);
    bar.finish_and_clear();

    // Numbers someone already holds are bad lines too, reported with the others in one pass;
    // asked about a chunk at a time, so that no second copy of a large file's numbers is made.
    let mut registered: Vec<LineError> = Vec::new();
    let all: Vec<(u64, &E164)> = checked.numbers().collect();
    for chunk in all.chunks(REGISTERED_CHECK_CHUNK) {
        let numbers: Vec<E164> = chunk.iter().map(|(_, number)| (*number).clone()).collect();
        let taken = store.registered_numbers(&numbers).await?;
        registered.extend(
            chunk
                .iter()
                .filter(|(_, number)| taken.contains(*number))
                .map(|(line, number)| LineError {
                    line: *line,
                    reason: format!("phone_number {number} is already registered"),
                }),
        );
    }
    drop(all);
    for error in registered {
        checked.push_error(error);
    }
    if !checked.errors.is_empty() {
        checked.errors.sort_by_key(|e| e.line);
        bail!(describe(path, &checked.errors, checked.more_errors));
    }
    let rows = checked.rows;

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

/// How `numbers import --from` runs.
#[derive(Clone, Copy, Debug)]
pub struct HeldImport {
    /// Say what would be done, and do nothing.
    pub dry_run: bool,
    /// Also point the calls of the workspace's numbers held there at Switchboard.
    pub configure: bool,
}

/// What `numbers import --from` did: the report it prints, and why it failed in part (the
/// numbers whose calls could not be pointed here), if it did.
pub struct HeldReport {
    pub report: serde_json::Value,
    pub failure: Option<String>,
}

/// Takes over the numbers the account holds at `provider` (`numbers import --from`): those
/// no workspace holds are imported into `workspace` in one transaction, as the provider
/// lists them (type, capabilities, monthly cost); those already in `workspace` are left as
/// they are, so a second run imports nothing; those another workspace holds are named and
/// not imported. With `configure`, the calls of the imported numbers and of those already
/// here are then pointed at Switchboard, one by one with a progress bar (setting the same
/// address again changes nothing). With `dry_run`, says the same and does nothing.
pub async fn import_held(
    store: &dyn Store,
    workspace: &WorkspaceId,
    provider: &dyn Provider,
    how: HeldImport,
) -> Result<HeldReport> {
    let spinner = ProgressBar::new_spinner()
        .with_message(format!("listing the numbers held at {}", provider.id()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let listed = provider.held_numbers().await;
    spinner.finish_and_clear();
    let held =
        listed.with_context(|| format!("cannot list the numbers held at {}", provider.id()))?;
    let numbers: Vec<E164> = held.iter().map(|h| h.offer.number.clone()).collect();
    let registered = store.registered_numbers(&numbers).await?;
    let (mut already_here, mut elsewhere) = (Vec::new(), Vec::new());
    for number in &registered {
        match store.find_phone_number(workspace, number).await? {
            Some(_) => already_here.push(number.clone()),
            None => elsewhere.push(number.to_string()),
        }
    }
    already_here.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    elsewhere.sort();
    let new: Vec<NewPhoneNumber> = held
        .into_iter()
        .map(|h| h.offer)
        .filter(|offer| !registered.contains(&offer.number))
        .map(|offer| switchboard_api::routes::phone_numbers::held_number(offer, provider.id()))
        .collect();
    let to_import: Vec<E164> = new.iter().map(|row| row.number.clone()).collect();
    let texts = |numbers: &[E164]| numbers.iter().map(E164::to_string).collect::<Vec<_>>();
    let to_configure: Vec<E164> = if how.configure {
        to_import.iter().chain(&already_here).cloned().collect()
    } else {
        Vec::new()
    };
    if how.dry_run {
        let mut report = serde_json::json!({
            "dry_run": true,
            "would_import": texts(&to_import),
            "already_here": texts(&already_here),
            "held_by_another_workspace": elsewhere,
        });
        if how.configure {
            report["would_configure"] = texts(&to_configure).into();
        }
        return Ok(HeldReport {
            report,
            failure: None,
        });
    }
    let ids = if new.is_empty() {
        Vec::new()
    } else {
        match store
            .import_phone_numbers(workspace, new, &Actor::cli())
            .await
        {
            Ok(ids) => ids,
            Err(StoreError::Conflict(message)) => {
                bail!(
                    "nothing imported from {}: {message}; run it again",
                    provider.id()
                )
            }
            Err(other) => return Err(other.into()),
        }
    };
    let mut report = serde_json::json!({
        "imported": ids.len(),
        "ids": ids.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        "numbers": texts(&to_import),
        "already_here": texts(&already_here),
        "held_by_another_workspace": elsewhere,
    });
    let mut failure = None;
    if how.configure {
        let (configured, failed) = configure_voice(provider, &to_configure).await;
        if !failed.is_empty() {
            failure = Some(format!(
                "{} of {} numbers could not be pointed at Switchboard (listed under configure_failed); run it again to retry them",
                failed.len(),
                to_configure.len()
            ));
        }
        report["configured"] = texts(&configured).into();
        report["configure_failed"] = failed.into();
    }
    Ok(HeldReport { report, failure })
}

/// Points the calls of each number at Switchboard, with a progress bar; returns those done
/// and, for the rest, each number with the provider's reason.
async fn configure_voice(
    provider: &dyn Provider,
    numbers: &[E164],
) -> (Vec<E164>, Vec<serde_json::Value>) {
    let progress = ProgressBar::new(numbers.len() as u64).with_message(format!(
        "pointing the numbers' calls at Switchboard ({})",
        provider.id()
    ));
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for number in numbers {
        match provider.configure_voice(number).await {
            Ok(()) => done.push(number.clone()),
            Err(error) => failed.push(serde_json::json!({
                "number": number.to_string(),
                "error": error.to_string(),
            })),
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    (done, failed)
}

/// The import's error: a summary line, then one line per bad row.
fn describe(path: &Path, errors: &[LineError], more: u64) -> String {
    let total = errors.len() as u64 + more;
    let mut text = format!(
        "nothing imported: {total} bad line{} in {}",
        if total == 1 { "" } else { "s" },
        path.display()
    );
    for error in errors {
        let _ = write!(text, "\n  line {}: {}", error.line, error.reason);
    }
    if more > 0 {
        let _ = write!(text, "\n  … and {more} more bad lines");
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
            // The quoted line break is read whole, then refused: a nickname is one line.
            assert_eq!(
                found,
                [(3, false), (4, false), (6, true)],
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
    fn control_characters_are_named_with_their_line() {
        let errors = parse(
            "phone_number,nickname,label\n+912234567890,a\u{0}b,ok\n+14155552671,ok,\u{1b}[31m\n",
        )
        .expect_err("control characters");
        let found: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        assert_eq!(
            found,
            [
                (
                    2,
                    "nickname must not contain control characters (line breaks, tabs, NUL, escapes)"
                ),
                (
                    3,
                    "label must not contain control characters (line breaks, tabs, NUL, escapes)"
                ),
            ]
        );
    }

    #[test]
    fn defused_formulas_read_back_as_written() {
        let rows = parse("phone_number,nickname,label\n+912234567890,'=1+2,''@x\n").expect("valid");
        assert_eq!(rows[0].1.nickname.as_deref(), Some("=1+2"));
        assert_eq!(rows[0].1.label.as_deref(), Some("'@x"));
    }

    #[test]
    fn an_unclosed_quote_is_named_as_such() {
        let errors =
            parse("phone_number,nickname\n+912234567890,ok\n+14155552671,\"open\n+14155552672,x\n")
                .expect_err("unclosed quote");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].reason.contains("never closed"),
            "{}",
            errors[0].reason
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
