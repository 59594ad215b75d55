//! Export: every number of the workspace as CSV or NDJSON, streamed.

use super::*;

/// The columns of an export, every field of the number object in its order; `switchboard
/// numbers import` reads such a file back.
pub const EXPORT_COLUMNS: [&str; 18] = [
    "id",
    "phone_number",
    "country_code",
    "type",
    "monthly_cost_usd",
    "capabilities",
    "label",
    "nickname",
    "agent_id",
    "inbound_agent_id",
    "outbound_agent_id",
    "status",
    "provider",
    "sip_trunk_enabled",
    "is_default",
    "created_at",
    "updated_at",
    "routing",
];

/// The two formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

impl ExportFormat {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(Self::Csv),
            "ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    /// The header line, if the format has one.
    pub fn header(self) -> Option<Vec<u8>> {
        match self {
            Self::Csv => Some(csv_line(EXPORT_COLUMNS.iter().map(|c| (*c).to_owned()))),
            Self::Ndjson => None,
        }
    }

    /// One number as one line.
    pub fn line(self, number: PhoneNumber) -> Vec<u8> {
        let object = PhoneNumberObject::from(number);
        match self {
            Self::Csv => csv_line(csv_cells(&object)),
            Self::Ndjson => {
                let mut line = serde_json::to_vec(&object).unwrap_or_default();
                line.push(b'\n');
                line
            }
        }
    }
}

fn csv_cells(o: &PhoneNumberObject) -> impl Iterator<Item = String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        o.id.clone(),
        o.phone_number.clone(),
        o.country_code.clone(),
        o.number_type.to_owned(),
        o.monthly_cost_usd.clone(),
        o.capabilities.join("|"),
        spreadsheet_safe(text(&o.label)),
        spreadsheet_safe(text(&o.nickname)),
        text(&o.agent_id),
        text(&o.inbound_agent_id),
        text(&o.outbound_agent_id),
        o.status.to_owned(),
        o.provider.clone(),
        o.sip_trunk_enabled.to_string(),
        o.is_default.to_string(),
        o.created_at.clone(),
        o.updated_at.clone(),
        // The policy as one line of JSON; empty for none.
        o.routing
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default(),
    ]
    .into_iter()
}

/// Whether a spreadsheet would run `text` as a formula (OWASP's CSV injection list: `=`,
/// `+`, `-`, `@`, tab, carriage return first), also behind apostrophes that
/// [`spreadsheet_safe`] would otherwise take for its own.
fn reads_as_formula(text: &str) -> bool {
    text.trim_start_matches('\'')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A free-text cell (a label, a nickname: text a person typed) as a spreadsheet shows it
/// without running it: prefixed with `'` when it would read as a formula, as OWASP advises.
/// The other columns hold values the server formats itself (E.164 numbers, amounts, ids,
/// times) and are written as they are: `+14155550100` is a number, not a formula.
/// [`from_spreadsheet_safe`] reads the cell back.
pub fn spreadsheet_safe(text: String) -> String {
    if reads_as_formula(&text) {
        format!("'{text}")
    } else {
        text
    }
}

/// The text a [`spreadsheet_safe`] cell was made from.
pub fn from_spreadsheet_safe(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if reads_as_formula(rest) => rest,
        _ => cell,
    }
}

/// One CSV record (RFC 4180: quoted when it must be, `\r\n` at the end).
pub(super) fn csv_line(cells: impl Iterator<Item = String>) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            line.push(b',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            line.push(b'"');
            line.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            line.push(b'"');
        } else {
            line.extend_from_slice(cell.as_bytes());
        }
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// The export's format and filters.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct ExportQuery {
    /// Without it, `Accept: application/x-ndjson` picks NDJSON and anything else CSV.
    #[param(value_type = Option<ExportFormatName>, inline)]
    format: Option<String>,
}

/// The formats of an export.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "documents the values of format")]
pub enum ExportFormatName {
    Csv,
    Ndjson,
}

/// How many lines go into one chunk of the body: enough that a chunk is worth a write.
pub(super) const LINES_PER_CHUNK: usize = 256;

/// The body of an export: the header, then a chunk of lines at a time as the store reads
/// them. Memory stays flat; a client that goes away drops the body, and with it the
/// store's stream, which stops the query. A store error mid-way ends the body with an
/// error, so the client sees a cut-off transfer, never a short file that looks whole.
pub fn export_body(format: ExportFormat, numbers: NumberStream) -> Body {
    let header = format.header().map(Bytes::from);
    let lines = futures_util::stream::unfold(Some(numbers), move |numbers| async move {
        let mut numbers = numbers?;
        let first = numbers.recv().await?;
        let mut chunk = Vec::new();
        let mut pending = Some(first);
        let mut taken = 0;
        while let Some(item) = pending.take() {
            match item {
                Ok(number) => chunk.extend_from_slice(&format.line(number)),
                Err(error) => {
                    tracing::error!(%error, "export stopped by a database error");
                    return Some((Err(std::io::Error::other(error)), None));
                }
            }
            taken += 1;
            if taken < LINES_PER_CHUNK {
                pending = numbers.try_recv().ok();
            }
        }
        Some((Ok(Bytes::from(chunk)), Some(numbers)))
    });
    let head = futures_util::stream::iter(header.map(Ok));
    Body::from_stream(futures_util::StreamExt::chain(head, lines))
}

/// Export phone numbers (ext).
///
/// Every number that matches the list's filters, every field, as CSV (which `switchboard
/// numbers import` reads back) or NDJSON, streamed as it is read. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/export",
    operation_id = "exportPhoneNumbers",
    tag = "Reports",
    params(NumberFilterQuery, ExportQuery),
    responses(
        (status = 200, description = "The numbers, oldest first.", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
        (status = 400, description = "A filter or `format` value is invalid.", body = ErrorResponse),
    )
)]
pub async fn export_phone_numbers(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let mut problems = Vec::new();
    let filter = number_filter(&query, &mut problems);
    let format = match query.get("format") {
        Some(name) => ExportFormat::parse(name).unwrap_or_else(|| {
            problems.push("format must be one of the following values: csv, ndjson".into());
            ExportFormat::Csv
        }),
        None => {
            let accept = headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if accept.contains("application/x-ndjson") {
                ExportFormat::Ndjson
            } else {
                ExportFormat::Csv
            }
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let numbers = match filter {
        Some(filter) => state
            .store
            .stream_phone_numbers(&caller.workspace_id, &filter),
        // A filter that matches nothing: an empty stream.
        None => tokio::sync::mpsc::channel(1).1,
    };
    let extension = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Ndjson => "ndjson",
    };
    let mut response = (StatusCode::OK, export_body(format, numbers)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"phone-numbers.{extension}\""
    )) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
