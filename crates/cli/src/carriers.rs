//! The carrier accounts on the command line (Plivo, Twilio, Telnyx, where carriers reach this
//! server)
//! for `serve`, `numbers import --from` and `numbers reconcile`, and the reconcile command.

use crate::{existing_workspace, output};
use anyhow::{Result, bail};
use std::time::Duration;
use switchboard_store::Store;

/// `--reconcile-interval`: a period, or none.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReconcileInterval(pub(crate) Option<Duration>);

pub(crate) fn parse_reconcile_interval(text: &str) -> Result<ReconcileInterval, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(ReconcileInterval(None));
    }
    let schedule =
        switchboard_webhooks::parse_schedule(text).map_err(|e| format!("{e}, or \"off\""))?;
    match schedule.0.as_slice() {
        [one] => Ok(ReconcileInterval(Some(*one))),
        _ => Err("one period (e.g. 1h or 30m), or \"off\"".into()),
    }
}

/// `--telnyx-public-key`: base64 of an Ed25519 public key.
pub(crate) fn parse_telnyx_key(
    text: &str,
) -> Result<switchboard_providers::telnyx::TelnyxPublicKey, String> {
    switchboard_providers::telnyx::TelnyxPublicKey::parse(text).map_err(|e| {
        format!("{e}; copy the public key from the Telnyx portal (Keys & Credentials)")
    })
}

/// `--public-url`: an http(s) URL with a host and nothing after the path.
pub(crate) fn parse_public_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text)
        .map_err(|e| format!("not a URL ({e}); e.g. https://switchboard.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(
            "must be an http:// or https:// URL with a host, e.g. https://switchboard.example.com"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// The Plivo account, for `serve` and for `numbers import --from plivo`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlivoArgs {
    /// Plivo auth id; with the token, enables the `plivo` provider.
    #[arg(long, env = "SWITCHBOARD_PLIVO_AUTH_ID")]
    pub(crate) plivo_auth_id: Option<String>,
    /// Plivo auth token; also checks X-Plivo-Signature-V3 on /carriers/plivo/*.
    #[arg(long, env = "SWITCHBOARD_PLIVO_AUTH_TOKEN", hide_env_values = true)]
    pub(crate) plivo_auth_token: Option<String>,
    /// Plivo API base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_PLIVO_BASE_URL",
        default_value = "https://api.plivo.com"
    )]
    pub(crate) plivo_base_url: String,
    /// Timeout of each call to Plivo, in seconds.
    #[arg(long, env = "SWITCHBOARD_PLIVO_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) plivo_timeout_secs: u64,
}

impl PlivoArgs {
    /// The account, when both its id and token are given.
    pub(crate) fn config(&self) -> Result<Option<switchboard_providers::PlivoConfig>> {
        match (&self.plivo_auth_id, &self.plivo_auth_token) {
            (Some(auth_id), Some(auth_token)) => Ok(Some(switchboard_providers::PlivoConfig {
                auth_id: auth_id.clone(),
                auth_token: auth_token.clone(),
                base_url: self.plivo_base_url.clone(),
                timeout: Duration::from_secs(self.plivo_timeout_secs.max(1)),
            })),
            (None, None) => Ok(None),
            _ => {
                bail!("Plivo needs both SWITCHBOARD_PLIVO_AUTH_ID and SWITCHBOARD_PLIVO_AUTH_TOKEN")
            }
        }
    }
}

/// The Twilio account, for `serve` and for `numbers import --from twilio`.
#[derive(clap::Args, Debug)]
pub(crate) struct TwilioArgs {
    /// Twilio auth token: enables /carriers/twilio/* and checks X-Twilio-Signature with it;
    /// with the account SID, also the `twilio` provider (search, buy, release).
    #[arg(long, env = "SWITCHBOARD_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub(crate) twilio_auth_token: Option<String>,
    /// Twilio account SID (AC…): requests from any other account are refused.
    #[arg(long, env = "SWITCHBOARD_TWILIO_ACCOUNT_SID")]
    pub(crate) twilio_account_sid: Option<String>,
    /// Twilio REST API base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_TWILIO_BASE_URL",
        default_value = "https://api.twilio.com"
    )]
    pub(crate) twilio_base_url: String,
    /// Twilio Pricing API base URL (where the monthly price of numbers is read).
    #[arg(
        long,
        env = "SWITCHBOARD_TWILIO_PRICING_URL",
        default_value = "https://pricing.twilio.com"
    )]
    pub(crate) twilio_pricing_url: String,
    /// Timeout of each call to Twilio, in seconds.
    #[arg(long, env = "SWITCHBOARD_TWILIO_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) twilio_timeout_secs: u64,
}

impl TwilioArgs {
    /// The account, when both its SID and token are given (the token alone only checks
    /// Twilio's signed calls).
    pub(crate) fn config(
        &self,
        voice: Option<switchboard_providers::VoiceUrls>,
    ) -> Option<switchboard_providers::TwilioConfig> {
        let (Some(account_sid), Some(auth_token)) =
            (&self.twilio_account_sid, &self.twilio_auth_token)
        else {
            return None;
        };
        Some(switchboard_providers::TwilioConfig {
            account_sid: account_sid.clone(),
            auth_token: auth_token.clone(),
            base_url: self.twilio_base_url.clone(),
            pricing_base_url: self.twilio_pricing_url.clone(),
            timeout: Duration::from_secs(self.twilio_timeout_secs.max(1)),
            voice,
        })
    }
}

/// The Telnyx account, for `serve` and for `numbers import --from telnyx`.
#[derive(clap::Args, Debug)]
pub(crate) struct TelnyxArgs {
    /// Telnyx API key (v2): enables the `telnyx` provider (search, buy, release, import).
    #[arg(long, env = "SWITCHBOARD_TELNYX_API_KEY", hide_env_values = true)]
    pub(crate) telnyx_api_key: Option<String>,
    /// Telnyx REST API base URL.
    #[arg(
        long,
        env = "SWITCHBOARD_TELNYX_BASE_URL",
        default_value = "https://api.telnyx.com/v2"
    )]
    pub(crate) telnyx_base_url: String,
    /// Timeout of each call to Telnyx, in seconds.
    #[arg(long, env = "SWITCHBOARD_TELNYX_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) telnyx_timeout_secs: u64,
    /// How long a purchase waits for Telnyx to complete its number order, in seconds (1 to
    /// 25: under the request's time limit).
    #[arg(long, env = "SWITCHBOARD_TELNYX_ORDER_WAIT_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=25))]
    pub(crate) telnyx_order_wait_secs: u64,
}

impl TelnyxArgs {
    /// The account, when its API key is given.
    pub(crate) fn config(
        &self,
        voice: Option<switchboard_providers::VoiceUrls>,
    ) -> Option<switchboard_providers::TelnyxConfig> {
        self.telnyx_api_key
            .as_ref()
            .map(|api_key| switchboard_providers::TelnyxConfig {
                api_key: api_key.clone(),
                base_url: self.telnyx_base_url.clone(),
                timeout: Duration::from_secs(self.telnyx_timeout_secs.max(1)),
                order_wait: Duration::from_secs(self.telnyx_order_wait_secs),
                order_poll: Duration::from_secs(1),
                voice,
            })
    }
}

/// Where carriers reach this server, for `serve` and for `numbers import --configure`.
#[derive(clap::Args, Debug)]
pub(crate) struct VoiceArgs {
    /// The address carriers reach this server at (https://switchboard.example.com): their
    /// signatures cover the URL they called, which behind a proxy is not the one seen here.
    /// Numbers bought from Twilio (or imported with --configure) send their calls here.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_parser = parse_public_url)]
    pub(crate) public_url: Option<String>,
    /// Where a carrier sends a number's calls when this server does not answer (a static
    /// TwiML/TeXML document that dials your agents directly, say); set on numbers bought or
    /// configured here.
    #[arg(long, env = "SWITCHBOARD_VOICE_FALLBACK_URL", value_parser = parse_fallback_url)]
    pub(crate) voice_fallback_url: Option<String>,
}

impl VoiceArgs {
    /// Switchboard's endpoints for `carrier`, when the public URL is known.
    pub(crate) fn urls(&self, carrier: &str) -> Option<switchboard_providers::VoiceUrls> {
        self.public_url.as_deref().map(|public| {
            switchboard_providers::VoiceUrls::at(public, carrier, self.voice_fallback_url.clone())
        })
    }
}

/// `--voice-fallback-url`: an http(s) URL with a host.
pub(crate) fn parse_fallback_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text)
        .map_err(|e| format!("not a URL ({e}); e.g. https://handler.twilio.com/twiml/EH…"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(text.to_owned())
}

/// A provider whose account's numbers `numbers import --from` takes over.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ImportSource {
    Plivo,
    Twilio,
    Telnyx,
}

/// `numbers reconcile`: compare the numbers with their carriers.
#[derive(clap::Args, Debug)]
pub(crate) struct ReconcileArgs {
    /// Only this workspace's numbers (ws_…): its findings are printed and, with --fix, only
    /// its numbers re-pointed. Numbers no workspace holds are printed without it.
    #[arg(long)]
    pub(crate) workspace: Option<String>,
    /// Point the calls of drifted numbers back at this server (--public-url).
    #[arg(long)]
    pub(crate) fix: bool,
    #[command(flatten)]
    pub(crate) plivo: PlivoArgs,
    #[command(flatten)]
    pub(crate) twilio: TwilioArgs,
    #[command(flatten)]
    pub(crate) telnyx: TelnyxArgs,
    #[command(flatten)]
    pub(crate) voice: VoiceArgs,
}

/// The carrier accounts the flags configure, telling each where calls go.
pub(crate) fn accounts(
    plivo: &PlivoArgs,
    twilio: &TwilioArgs,
    telnyx: &TelnyxArgs,
    voice: &VoiceArgs,
) -> Result<switchboard_api::CarrierAccounts> {
    Ok(switchboard_api::CarrierAccounts {
        plivo: plivo.config()?,
        twilio: twilio.config(voice.urls("twilio")),
        telnyx: telnyx.config(voice.urls("telnyx")),
    })
}

/// `numbers reconcile`.
pub(crate) async fn reconcile(store: &dyn Store, args: ReconcileArgs) -> Result<()> {
    let workspace = match &args.workspace {
        Some(id) => Some(existing_workspace(store, id).await?),
        None => None,
    };
    if args.fix && args.voice.public_url.is_none() {
        bail!(
            "--fix needs this server's public address (--public-url or SWITCHBOARD_PUBLIC_URL): it is where the calls are pointed back to"
        );
    }
    let carriers = accounts(&args.plivo, &args.twilio, &args.telnyx, &args.voice)?.carriers()?;
    if carriers.is_empty() {
        bail!(
            "no carrier account is configured: give Twilio's (SWITCHBOARD_TWILIO_ACCOUNT_SID and _AUTH_TOKEN), Telnyx's (SWITCHBOARD_TELNYX_API_KEY) or Plivo's (SWITCHBOARD_PLIVO_AUTH_ID and _AUTH_TOKEN), as for serve"
        );
    }
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for carrier in &carriers {
        match switchboard_api::reconcile::reconcile(
            store,
            carrier.as_ref(),
            args.fix,
            workspace.as_ref(),
        )
        .await
        {
            Ok(done) => {
                let voice_url = carrier.voice_urls().map(|urls| urls.voice_url.as_str());
                let findings: Vec<serde_json::Value> = done
                    .findings
                    .iter()
                    .filter(|f| match (&workspace, &f.number) {
                        (None, _) => true,
                        (Some(ws), Some((in_ws, _))) => ws == in_ws,
                        (Some(_), None) => false,
                    })
                    .map(|f| {
                        serde_json::json!({
                            "code": f.code.as_str(),
                            "phone_number": f.phone_number,
                            "workspace_id": f.number.as_ref().map(|(ws, _)| ws.as_str()),
                            "phone_number_id": f.number.as_ref().map(|(_, id)| id.as_str()),
                            "message": switchboard_api::reconcile::describe(f, voice_url),
                        })
                    })
                    .collect();
                if !done.fix_failed.is_empty() {
                    failures.push(format!(
                        "{} drifted numbers at {} could not be re-pointed (under fix_failed)",
                        done.fix_failed.len(),
                        done.provider
                    ));
                }
                reports.push(serde_json::json!({
                    "provider": done.provider,
                    "held_at_carrier": done.held_at_carrier,
                    "here": done.here,
                    "findings": findings,
                    "fixed": done.fixed,
                    "fix_failed": done.fix_failed.iter().map(|(number, error)| serde_json::json!({"number": number, "error": error})).collect::<Vec<_>>(),
                }));
            }
            Err(error) => {
                failures.push(error.to_string());
                reports.push(
                    serde_json::json!({"provider": carrier.id(), "error": error.to_string()}),
                );
            }
        }
    }
    output::print_json(&serde_json::json!({ "carriers": reports }))?;
    if !failures.is_empty() {
        bail!(failures.join("; "));
    }
    Ok(())
}
