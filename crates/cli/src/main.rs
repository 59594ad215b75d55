//! `switchboard`: the one binary. Serves the API and administers the database.
#![forbid(unsafe_code)]

mod carriers;
mod database;
mod demo;
mod export;
mod import;
mod log_writer;
mod output;
mod secrets;
mod users;

use anyhow::{Context, Result, bail};
use carriers::{
    ImportSource, PlivoArgs, ReconcileArgs, ReconcileInterval, TelnyxArgs, TwilioArgs, VoiceArgs,
    parse_reconcile_interval, parse_telnyx_key,
};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use switchboard_api::routes::api_keys::ApiKeyObject;
use switchboard_api::routes::reports;
use switchboard_api::{ApiSettings, AppState, ServeOptions};
use switchboard_domain::{ApiKeyId, Scopes, WorkspaceId};
use switchboard_store::{Actor, NewWorkspace, Store, Workspace, WorkspaceUpdate, issue_api_key};
use switchboard_webhooks::WebhookSettings;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: the service allocates small, short-lived
/// buffers on every request from several threads, which glibc's malloc serves 20 % slower
/// (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about = "Self-hosted phone numbers for voice-AI agents, speaking the DialNexa v1 API"
)]
struct Cli {
    /// Database to use: sqlite://PATH (created and migrated if missing) or
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (run `migrate` first).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DATABASE_URL",
        default_value = "sqlite://switchboard.db"
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeArgs>),
    /// Bring the database schema up to date.
    Migrate,
    /// Print the OpenAPI 3.1 document of the HTTP API (the one served at /v1/openapi.json).
    Openapi,
    /// Copy a SQLite database consistently, even while the server runs, with its key file
    /// beside the copy (FILE.key, mode 0600); prints {"backup","bytes","key_file"}.
    Backup {
        /// The new file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage phone numbers.
    #[command(subcommand)]
    Numbers(NumbersCommand),
    /// Manage the people who sign in to the console.
    #[command(subcommand)]
    User(users::UserCommand),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on, HOST:PORT: an IP address or a name such as localhost (port 0
    /// picks a free port).
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// On an empty database, create a demo workspace, key, agents and numbers, and print the key.
    #[arg(long)]
    demo: bool,
    /// How long a verified API key is kept in memory, in milliseconds (0 to 1000; 0 disables).
    /// A key revoked elsewhere stops working within this time.
    #[arg(long, env = "SWITCHBOARD_KEY_CACHE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1000))]
    key_cache_ms: u64,
    /// Requests per minute allowed for each API key (0 disables rate limits).
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT_PER_MINUTE", default_value_t = switchboard_server::rate_limit::DEFAULT_PER_MINUTE)]
    rate_limit_per_minute: u32,
    /// Failed authentications (unknown or wrong keys) allowed per minute from one client
    /// address before it is answered 429, all at once at most; a tenth of it per key id for
    /// wrong secrets (0 disables).
    #[arg(long, env = "SWITCHBOARD_FAILED_AUTH_PER_MINUTE", default_value_t = switchboard_server::auth_throttle::DEFAULT_FAILED_AUTH_PER_MINUTE)]
    failed_auth_per_minute: u32,
    /// Not an option: the port is part of --listen HOST:PORT. Given, it says so.
    #[arg(long, hide = true)]
    port: Option<String>,
    /// Redis that every replica shares rate limits through (redis://HOST[:PORT][/DB]).
    /// Without it each replica counts on its own; when it cannot be reached, each replica
    /// counts on its own until it can.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// How long one request may take before it is stopped with a 503, in seconds (1 to 300;
    /// work left pending by a request cut off is cleaned up after 10 minutes).
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=300))]
    request_timeout_secs: u64,
    /// After SIGTERM or Ctrl-C, how long in-flight requests may take to finish, in seconds.
    #[arg(long, env = "SWITCHBOARD_DRAIN_TIMEOUT_SECS", default_value_t = 30)]
    drain_timeout_secs: u64,
    /// How long a request head may take to arrive in full, in seconds (1 to 300): counted
    /// from the connect, or on a kept-alive connection from the previous response.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT_SECS", default_value_t = switchboard_server::serve::DEFAULT_HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=300))]
    header_read_timeout_secs: u64,
    /// How long a kept-alive connection may stay idle after a response, in seconds (1 to
    /// 300, and at most --header-read-timeout-secs).
    #[arg(long, env = "SWITCHBOARD_KEEP_ALIVE_TIMEOUT_SECS", default_value_t = switchboard_server::serve::DEFAULT_KEEP_ALIVE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=300))]
    keep_alive_timeout_secs: u64,
    /// How long a client may take no byte of a response before its connection is closed, in
    /// seconds (1 to 3600). A slow reader of a long export is fine; one that stopped is not.
    #[arg(long, env = "SWITCHBOARD_WRITE_STALL_TIMEOUT_SECS", default_value_t = switchboard_server::serve::DEFAULT_WRITE_STALL_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    write_stall_timeout_secs: u64,
    /// Connections served at once; one more is answered 503 and closed. Keep it below the
    /// process's open-file limit (ulimit -n).
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = switchboard_server::serve::DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Local development only: webhook endpoints may be loopback addresses (127.0.0.1,
    /// localhost), over plain http too. Private and link-local addresses stay refused.
    #[arg(long, env = "SWITCHBOARD_WEBHOOKS_ALLOW_LOOPBACK")]
    webhooks_allow_loopback: bool,
    /// How long a webhook endpoint has to answer 2xx, in seconds (1 to 60).
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_TIMEOUT_SECS", default_value_t = switchboard_webhooks::DEFAULT_ATTEMPT_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=60))]
    webhook_timeout_secs: u64,
    /// The delays before each retry of a failed webhook delivery (each ± 20 %), comma
    /// separated, in s, m or h; after the last the delivery is marked failed.
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_RETRY_SCHEDULE", default_value = switchboard_webhooks::DEFAULT_RETRY_SCHEDULE, value_parser = switchboard_webhooks::parse_schedule)]
    webhook_retry_schedule: switchboard_webhooks::RetrySchedule,
    /// Key that seals SIP trunk passwords and webhook signing secrets, 64 hex characters. Without it, a key file beside
    /// the SQLite database (<database>.key, mode 0600) is used, and created if missing.
    #[arg(long, env = "SWITCHBOARD_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    #[command(flatten)]
    plivo: PlivoArgs,
    #[command(flatten)]
    twilio: TwilioArgs,
    #[command(flatten)]
    telnyx: TelnyxArgs,
    #[command(flatten)]
    voice: VoiceArgs,
    #[command(flatten)]
    oidc: users::OidcArgs,
    /// Telnyx's public key (base64, from the Telnyx portal): enables /carriers/telnyx/* and
    /// checks telnyx-signature-ed25519 with it.
    #[arg(long, env = "SWITCHBOARD_TELNYX_PUBLIC_KEY", value_parser = parse_telnyx_key)]
    telnyx_public_key: Option<switchboard_providers::telnyx::TelnyxPublicKey>,
    /// What a caller hears when the call has nowhere to go (an unknown or released number, no
    /// working route), before the hang-up.
    #[arg(long, env = "SWITCHBOARD_CALL_APOLOGY", default_value = switchboard_server::DEFAULT_CALL_APOLOGY)]
    call_apology: String,
    /// How often the numbers are compared with their carriers (Plivo, Twilio, Telnyx): a number gone
    /// there, calls sent elsewhere, a number billed there that no workspace holds. In s, m or
    /// h (e.g. 30m); "off" never.
    #[arg(long, env = "SWITCHBOARD_RECONCILE_INTERVAL", default_value = "1h", value_parser = parse_reconcile_interval)]
    reconcile_interval: ReconcileInterval,
    /// Days a call stays in the call log (1 to 3650); older calls, with the caller's number,
    /// are deleted.
    #[arg(long, env = "SWITCHBOARD_CALL_RETENTION_DAYS", default_value_t = switchboard_server::DEFAULT_CALL_RETENTION_DAYS, value_parser = clap::value_parser!(u64).range(1..=3650))]
    call_retention_days: u64,
    /// A console session unused for this many minutes ends (1 to 43200).
    #[arg(long, env = "SWITCHBOARD_SESSION_IDLE_MINUTES", default_value_t = switchboard_server::sessions::DEFAULT_SESSION_IDLE.as_secs() / 60, value_parser = clap::value_parser!(u64).range(1..=43200))]
    session_idle_minutes: u64,
    /// A console session ends this many hours after sign-in, however busy (1 to 2160).
    #[arg(long, env = "SWITCHBOARD_SESSION_MAX_HOURS", default_value_t = switchboard_server::sessions::DEFAULT_SESSION_ABSOLUTE.as_secs() / 3600, value_parser = clap::value_parser!(u64).range(1..=2160))]
    session_max_hours: u64,
}

#[derive(Subcommand, Debug)]
enum WorkspaceCommand {
    /// Create a workspace and a key with every scope; prints {"workspace_id","api_key"}.
    Create {
        /// The workspace's name, as people will see it (e.g. your team or client).
        #[arg(long)]
        name: String,
        /// Countries enabled for purchases and SIP links, as ISO 3166-1 alpha-2 codes: US,IN.
        #[arg(long, value_delimiter = ',')]
        countries: Vec<String>,
        /// Mark the workspace as KYC-verified (`--kyc-verified` alone means true).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
        kyc_verified: Option<bool>,
    },
    /// Change a workspace's enabled countries or KYC status; prints the workspace.
    Update {
        /// The workspace's id (ws_…), as `workspace create` or `workspace list` print it.
        workspace: String,
        /// Countries enabled for purchases and SIP links (replaces the list): US,IN. An empty
        /// value clears it.
        #[arg(long, value_delimiter = ',')]
        countries: Option<Vec<String>>,
        /// Whether the workspace is KYC-verified (`--kyc-verified` alone means true).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "true|false")]
        kyc_verified: Option<bool>,
    },
    /// List every workspace, oldest first; prints {"workspaces":[…]}.
    List,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create an API key; prints {"id","api_key","scopes"}. The key is shown only this once.
    Create {
        /// The workspace's id (ws_…) the key is for.
        #[arg(long)]
        workspace: String,
        /// A name that says who or what uses the key (e.g. "call-router prod").
        #[arg(long, default_value = "default")]
        name: String,
        /// Comma-separated scopes; every scope when omitted.
        #[arg(long)]
        scopes: Option<String>,
    },
    /// List a workspace's live keys, never their secrets; prints {"keys":[…]}.
    List {
        /// The workspace's id (ws_…).
        #[arg(long)]
        workspace: String,
    },
    /// Revoke a key (its id, or the whole key); prints {"revoked","workspace_id"}.
    Revoke {
        /// The key's id (k…), or the whole key (id:secret).
        key: String,
    },
}

/// `numbers import`: from a CSV file, or from a provider account (`--from`).
#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// The workspace's id (ws_…) the numbers are imported into.
    #[arg(long)]
    workspace: String,
    /// The CSV file: a header line naming the columns (phone_number required), then one
    /// number per line; an export reads back as it is.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    file: Option<PathBuf>,
    /// Take over the numbers the account holds at this provider (its credentials as for
    /// `serve`); those already here are left alone, so running it again changes nothing.
    #[arg(long, value_enum)]
    from: Option<ImportSource>,
    /// With --from: print what would be imported, and import nothing.
    #[arg(long, requires = "from")]
    dry_run: bool,
    /// With --from: also point the calls of the workspace's numbers held there (those
    /// imported and those already here) at this server (--public-url).
    #[arg(long, requires = "from")]
    configure: bool,
    #[command(flatten)]
    plivo: PlivoArgs,
    #[command(flatten)]
    twilio: TwilioArgs,
    #[command(flatten)]
    telnyx: TelnyxArgs,
    #[command(flatten)]
    voice: VoiceArgs,
}

#[derive(Subcommand, Debug)]
enum NumbersCommand {
    /// Import numbers from a CSV file, or every number a provider account holds (--from), all
    /// or nothing; prints {"imported","ids"} (with --dry-run, what would be imported).
    Import(Box<ImportArgs>),
    /// Compare each number with its carrier (every configured carrier that can list an
    /// account's numbers: Plivo, Twilio, Telnyx) and store what is out of step for the compliance
    /// report; prints {"carriers":[{"provider","findings":[…],"fixed",…}]}. Exits 1 when a
    /// carrier cannot be asked or a --fix fails.
    Reconcile(Box<ReconcileArgs>),
    /// Count and monthly cost of a workspace's numbers, in total and grouped; prints the
    /// summary the API's /summary answers.
    Summary {
        /// The workspace's id (ws_…).
        #[arg(long)]
        workspace: String,
        /// Comma-separated: country_code, type, provider, status, label, inbound_agent_id.
        #[arg(long)]
        group_by: Option<String>,
    },
    /// Write every number of a workspace to stdout, as CSV (which `numbers import` reads
    /// back) or NDJSON.
    Export {
        /// The workspace's id (ws_…).
        #[arg(long)]
        workspace: String,
        /// csv (spreadsheets; `numbers import` reads it back) or ndjson (one JSON object a line).
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormatArg,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ExportFormatArg {
    Csv,
    Ndjson,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints usage errors, --help and --version itself, with the right exit code.
        Err(error) => error.exit(),
    };
    // Flushes buffered log lines when main returns.
    let _log_guard = init_tracing(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the message and its causes, never a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr through a background writer ([`log_writer`]), so a request never waits
/// on the write. Lines are never dropped: if the writer falls behind, logging waits for it.
fn init_tracing(serving: bool) -> log_writer::FlushOnDrop {
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (writer, guard) = log_writer::batched_stderr();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    guard
}

async fn run(cli: Cli) -> Result<()> {
    let url = cli.database_url;
    match cli.command {
        Command::Serve(args) => serve(&url, *args).await,
        Command::Openapi => output::write_stdout(switchboard_api::openapi::document_json()),
        Command::Migrate => {
            let report = database::migrate(&url).await?;
            output::print_json(&serde_json::json!({
                "from_version": report.from_version,
                "to_version": report.to_version,
            }))
        }
        Command::Backup { to } => {
            let backup = database::backup(&url, &to).await?;
            if backup.key_file.is_none() {
                eprintln!(
                    "note: the secret key is not in a key file (SWITCHBOARD_SECRET_KEY?); keep it with this backup, \
                     or the SIP trunk passwords in it cannot be read"
                );
            }
            output::print_json(&serde_json::json!({
                "backup": to.display().to_string(),
                "bytes": backup.bytes,
                "key_file": backup.key_file.map(|k| k.display().to_string()),
            }))
        }
        Command::Workspace(WorkspaceCommand::List) => {
            let store = database::open(&url).await?;
            let workspaces = store.list_workspaces().await?;
            output::print_json(&serde_json::json!({
                "workspaces": workspaces.iter().map(workspace_json).collect::<Vec<_>>(),
            }))
        }
        Command::User(command) => {
            let store = database::open(&url).await?;
            users::run(store.as_ref(), command).await
        }
        Command::Key(KeyCommand::List { workspace }) => {
            let store = database::open(&url).await?;
            let workspace = existing_workspace(store.as_ref(), &workspace).await?;
            let keys = store.list_api_keys(&workspace).await?;
            let now = switchboard_domain::Timestamp::now();
            let keys: Vec<ApiKeyObject> = keys
                .into_iter()
                .map(|key| ApiKeyObject::listed(key, now))
                .collect();
            output::print_json(&serde_json::json!({ "keys": keys }))
        }
        Command::Key(KeyCommand::Revoke { key }) => {
            let store = database::open(&url).await?;
            // The whole key works as well as its id: the id is the part before the colon.
            let id_text = key.split(':').next().unwrap_or_default().trim();
            let not_found =
                || anyhow::anyhow!("key {id_text:?} does not exist or is already revoked");
            let id = ApiKeyId::parse(id_text).ok_or_else(not_found)?;
            let record = store.find_api_key(&id).await?.ok_or_else(not_found)?;
            if !store
                .revoke_api_key(&record.workspace_id, &id, &switchboard_store::Actor::cli())
                .await?
            {
                return Err(not_found());
            }
            output::print_json(&serde_json::json!({
                "revoked": id.as_str(),
                "workspace_id": record.workspace_id.as_str(),
            }))
        }
        Command::Workspace(WorkspaceCommand::Create {
            name,
            countries,
            kyc_verified,
        }) => {
            let store = database::open(&url).await?;
            let name = name.trim().to_owned();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let countries = parse_countries(&countries)?;
            let workspace = store
                .create_workspace(NewWorkspace {
                    name,
                    enabled_countries: countries,
                    kyc_verified: kyc_verified.unwrap_or(false),
                })
                .await?;
            let key =
                issue_api_key(store.as_ref(), &workspace.id, "default", Scopes::all()).await?;
            output::print_json(&serde_json::json!({
                "workspace_id": workspace.id.as_str(),
                "api_key": key.token.expose(),
            }))
        }
        Command::Workspace(WorkspaceCommand::Update {
            workspace,
            countries,
            kyc_verified,
        }) => {
            let store = database::open(&url).await?;
            let id = existing_workspace(store.as_ref(), &workspace).await?;
            if countries.is_none() && kyc_verified.is_none() {
                bail!("nothing to change: give --countries and/or --kyc-verified");
            }
            let update = WorkspaceUpdate {
                enabled_countries: countries.as_deref().map(parse_countries).transpose()?,
                kyc_verified,
            };
            let updated = store
                .update_workspace(&id, update, &Actor::cli())
                .await?
                .with_context(|| format!("workspace {id} does not exist"))?;
            output::print_json(&workspace_json(&updated))
        }
        Command::Key(KeyCommand::Create {
            workspace,
            name,
            scopes,
        }) => {
            let store = database::open(&url).await?;
            let workspace = existing_workspace(store.as_ref(), &workspace).await?;
            let scopes = match scopes {
                Some(list) => {
                    let scopes = Scopes::parse_list(&list).context("--scopes")?;
                    if scopes.is_empty() {
                        bail!("--scopes must name at least one scope");
                    }
                    scopes
                }
                None => Scopes::all(),
            };
            let key = issue_api_key(store.as_ref(), &workspace, &name, scopes).await?;
            output::print_json(&serde_json::json!({
                "id": key.id.as_str(),
                "api_key": key.token.expose(),
                "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            }))
        }
        Command::Numbers(NumbersCommand::Summary {
            workspace,
            group_by,
        }) => {
            let store = database::open(&url).await?;
            let workspace = existing_workspace(store.as_ref(), &workspace).await?;
            let group_by = reports::parse_group_by(group_by.as_deref())
                .map_err(|e| anyhow::anyhow!("--group-by: {e}"))?;
            let rows = store
                .summarize_phone_numbers(&workspace, &Default::default(), &group_by, None)
                .await?;
            let summary = reports::summary(&group_by, rows, None).map_err(anyhow::Error::msg)?;
            output::print_json(&summary)
        }
        Command::Numbers(NumbersCommand::Export { workspace, format }) => {
            let store = database::open(&url).await?;
            let workspace = existing_workspace(store.as_ref(), &workspace).await?;
            let format = match format {
                ExportFormatArg::Csv => reports::ExportFormat::Csv,
                ExportFormatArg::Ndjson => reports::ExportFormat::Ndjson,
            };
            export::export(store.as_ref(), &workspace, format).await
        }
        Command::Numbers(NumbersCommand::Reconcile(args)) => {
            let store = database::open(&url).await?;
            carriers::reconcile(store.as_ref(), *args).await
        }
        Command::Numbers(NumbersCommand::Import(import)) => {
            let ImportArgs {
                workspace,
                file,
                from,
                dry_run,
                configure,
                plivo,
                twilio,
                telnyx,
                voice,
            } = *import;
            let store = database::open(&url).await?;
            let workspace = existing_workspace(store.as_ref(), &workspace).await?;
            let provider: Box<dyn switchboard_providers::Provider> = match (file, from) {
                (Some(file), _) => {
                    let ids = import::import_csv(store.as_ref(), &workspace, &file).await?;
                    return output::print_json(&serde_json::json!({
                        "imported": ids.len(),
                        "ids": ids.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
                    }));
                }
                (None, Some(ImportSource::Plivo)) => {
                    let config = plivo.config()?.context(
                        "--from plivo needs the Plivo account: SWITCHBOARD_PLIVO_AUTH_ID and SWITCHBOARD_PLIVO_AUTH_TOKEN (or --plivo-auth-id and --plivo-auth-token)",
                    )?;
                    Box::new(switchboard_providers::PlivoProvider::new(config)?)
                }
                (None, Some(ImportSource::Telnyx)) => {
                    let config = telnyx.config(voice.urls("telnyx")).context(
                        "--from telnyx needs the Telnyx account: SWITCHBOARD_TELNYX_API_KEY (or --telnyx-api-key)",
                    )?;
                    Box::new(switchboard_providers::TelnyxProvider::new(config)?)
                }
                (None, Some(ImportSource::Twilio)) => {
                    let config = twilio.config(voice.urls("twilio")).context(
                        "--from twilio needs the Twilio account: SWITCHBOARD_TWILIO_ACCOUNT_SID and SWITCHBOARD_TWILIO_AUTH_TOKEN (or --twilio-account-sid and --twilio-auth-token)",
                    )?;
                    Box::new(switchboard_providers::TwilioProvider::new(config)?)
                }
                (None, None) => bail!("give a CSV file or --from"),
            };
            if configure && voice.public_url.is_none() {
                bail!(
                    "--configure needs this server's public address (--public-url or SWITCHBOARD_PUBLIC_URL): it is where the carrier will send the calls"
                );
            }
            let found = import::import_held(
                store.as_ref(),
                &workspace,
                provider.as_ref(),
                import::HeldImport { dry_run, configure },
            )
            .await?;
            output::print_json(&found.report)?;
            if let Some(failure) = found.failure {
                bail!(failure);
            }
            Ok(())
        }
    }
}
async fn serve(url: &str, args: ServeArgs) -> Result<()> {
    if let Some(port) = &args.port {
        bail!(
            "serve has no --port: give the address and the port together, e.g. --listen 127.0.0.1:{port}"
        );
    }
    if args.keep_alive_timeout_secs > args.header_read_timeout_secs {
        bail!(
            "--keep-alive-timeout-secs ({}) must not exceed --header-read-timeout-secs ({}): an idle connection is one waiting for a request head",
            args.keep_alive_timeout_secs,
            args.header_read_timeout_secs
        );
    }
    // Everything that can fail is set up before the port is bound, so "listening" means ready.
    let store: Arc<dyn Store> = database::open(url).await?;
    switchboard_domain::load_phone_metadata();
    // The token alone is enough to check Plivo's signed voice callbacks.
    let plivo_voice_token = args.plivo.plivo_auth_token.clone();
    let accounts = carriers::accounts(&args.plivo, &args.twilio, &args.telnyx, &args.voice)?;
    if (accounts.twilio.is_some() || accounts.telnyx.is_some()) && args.voice.public_url.is_none() {
        tracing::warn!(
            "--public-url is not set: numbers bought from Twilio keep the voice configuration Twilio gives them, and their calls do not reach Switchboard until you point them here"
        );
    }
    let providers = switchboard_api::default_providers(store.as_ref(), accounts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot set up the number providers: {e}"))?;
    let sealing_key = secrets::sealing_key_for(
        store.as_ref(),
        args.secret_key.as_deref(),
        database::key_file(url)?.as_deref(),
    )
    .await?;
    if let Some(url) = &args.redis_url {
        switchboard_server::rate_limit::check_redis_url(url)
            .map_err(|e| anyhow::anyhow!("--redis-url {}: {e}", database::redacted(url)))?;
    }
    let oidc = args.oidc.settings(store.as_ref()).await?;
    let settings = ApiSettings {
        oidc,
        reconcile_interval: args.reconcile_interval.0,
        sessions: switchboard_server::sessions::SessionSettings {
            idle: Duration::from_secs(args.session_idle_minutes * 60),
            absolute: Duration::from_secs(args.session_max_hours * 3600),
        },
        key_cache_ttl: Duration::from_millis(args.key_cache_ms),
        rate_limit_per_minute: args.rate_limit_per_minute,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        redis_url: args.redis_url.clone(),
        failed_auth_per_minute: args.failed_auth_per_minute,
        webhooks: WebhookSettings {
            allow_loopback: args.webhooks_allow_loopback,
            attempt_timeout: Duration::from_secs(args.webhook_timeout_secs),
            retry_schedule: args.webhook_retry_schedule,
        },
        calls: switchboard_server::CallSettings {
            public_url: args.voice.public_url,
            twilio_auth_token: args.twilio.twilio_auth_token,
            twilio_account_sid: args.twilio.twilio_account_sid,
            telnyx_public_key: args.telnyx_public_key,
            plivo_auth_token: plivo_voice_token,
            apology: args.call_apology,
            lookup_timeout: switchboard_server::DEFAULT_CALL_LOOKUP_TIMEOUT,
            retention: Duration::from_secs(args.call_retention_days * 24 * 60 * 60),
            clock: switchboard_server::Clock::default(),
        },
    };
    let listener = match tokio::net::TcpListener::bind(args.listen.as_str()).await {
        Ok(listener) => listener,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "cannot listen on {}: the address is already in use (another server is running there?); choose another with --listen HOST:PORT",
            args.listen
        ),
        Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => bail!(
            "cannot listen on {}: {error} (expected HOST:PORT, e.g. 127.0.0.1:8080)",
            args.listen
        ),
        Err(error) => bail!("cannot listen on {}: {error}", args.listen),
    };
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    if args.demo {
        demo::seed_and_announce(store.as_ref(), address).await?;
    }
    let state = AppState::new(store, providers, sealing_key, &settings);
    let shutdown = switchboard_server::shutdown_signal().context("cannot listen for SIGTERM")?;
    let rate_limits = match &args.redis_url {
        Some(url) => format!("shared through {}", database::redacted(url)),
        None => "per replica".to_owned(),
    };
    tracing::info!(database = %database::redacted(url), providers = ?state.providers.ids(), rate_limits, "listening on http://{address}");
    let options = ServeOptions {
        drain_timeout: Duration::from_secs(args.drain_timeout_secs),
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        keep_alive_timeout: Duration::from_secs(args.keep_alive_timeout_secs),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        write_stall_timeout: Duration::from_secs(args.write_stall_timeout_secs),
    };
    switchboard_api::serve(listener, state, options, shutdown)
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

pub(crate) async fn existing_workspace(store: &dyn Store, id: &str) -> Result<WorkspaceId> {
    let parsed = WorkspaceId::parse(id).with_context(|| {
        format!("workspace {id:?} does not exist (workspace ids look like ws_3n8c1v0q7d2k)")
    })?;
    if store.get_workspace(&parsed).await?.is_none() {
        bail!("workspace {id} does not exist");
    }
    Ok(parsed)
}

/// A workspace as the commands print it.
fn workspace_json(workspace: &Workspace) -> serde_json::Value {
    serde_json::json!({
        "workspace_id": workspace.id.as_str(),
        "name": workspace.name,
        "countries": workspace.enabled_countries,
        "kyc_verified": workspace.kyc_verified,
        "created_at": workspace.created_at.to_string(),
    })
}

/// Upper-cases and checks ISO 3166-1 alpha-2 codes of countries that have phone numbers.
fn parse_countries(codes: &[String]) -> Result<Vec<String>> {
    codes
        .iter()
        .map(|code| code.trim())
        .filter(|code| !code.is_empty())
        .map(|code| {
            let upper = code.to_ascii_uppercase();
            if switchboard_domain::is_phone_region(&upper) {
                Ok(upper)
            } else {
                bail!("--countries: {code:?} is not an ISO 3166-1 alpha-2 code of a country with phone numbers (e.g. US, GB, IN)")
            }
        })
        .collect()
}
