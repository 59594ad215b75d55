//! `switchboard user …`: the people of a workspace, from the command line (what an admin does
//! in the console, for the first admin and for automation).

use crate::output;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::io::Read;
use switchboard_api::routes::users::UserObject;
use switchboard_domain::{Email, PasswordDigest, Role, Timestamp, UserId};
use switchboard_store::{
    Actor, NewUser, Store, StoreError, User, UserUpdate, new_password_setup, password_setup_link,
};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Invite a person; prints {"user","password_setup_link","password_setup_expires_at"}:
    /// the link sets their password once, within 72 hours. With --password-stdin, sets the
    /// password instead and prints {"user"}.
    Create {
        /// The workspace's id (ws_…).
        #[arg(long)]
        workspace: String,
        /// The address they sign in with; no other live person may have it.
        #[arg(long)]
        email: String,
        /// viewer (reads everything a report needs), operator (also routes, buys and releases
        /// numbers, manages agents) or admin (also keys, webhooks and users).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from standard input (one line; at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
        /// Where the console is, for the link.
        #[arg(
            long,
            env = "SWITCHBOARD_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        console_url: String,
    },
    /// List a workspace's people; prints {"users":[…]}.
    List {
        /// The workspace's id (ws_…).
        #[arg(long)]
        workspace: String,
    },
    /// Change a person's role, or set their password; prints {"user"}.
    Update {
        /// Their email address or user id (usr_…).
        user: String,
        #[arg(long, value_parser = parse_role, required_unless_present = "password_stdin")]
        role: Option<Role>,
        /// Read a new password from standard input (one line; at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a person: every session of theirs ends at once; prints {"removed","workspace_id"}.
    Remove {
        /// Their email address or user id (usr_…).
        user: String,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).map_err(|e| e.to_string())
}

/// One line of standard input, hashed: the password never reaches the command line (where
/// `ps` would show it) or the database in clear.
fn password_from_stdin() -> Result<PasswordDigest> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .context("could not read the password from standard input")?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    PasswordDigest::of(password).context("--password-stdin")
}

/// The live person an email address or user id names.
async fn find_user(store: &dyn Store, text: &str) -> Result<User> {
    let not_found = || anyhow::anyhow!("no user {text:?} (give their email address or usr_… id)");
    if let Some(id) = UserId::parse(text.trim()) {
        for workspace in store.list_workspaces().await? {
            if let Some(user) = store.get_user(&workspace.id, &id).await? {
                return Ok(user);
            }
        }
        return Err(not_found());
    }
    let email = Email::parse(text).map_err(|_| not_found())?;
    Ok(store
        .sign_in_record(&email)
        .await?
        .ok_or_else(not_found)?
        .user)
}

pub async fn run(store: &dyn Store, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Create {
            workspace,
            email,
            role,
            password_stdin,
            console_url,
        } => {
            let workspace = crate::existing_workspace(store, &workspace).await?;
            let email = Email::parse(&email).context("--email")?;
            let password = password_stdin.then(password_from_stdin).transpose()?;
            let invitation = password
                .is_none()
                .then(|| new_password_setup(Timestamp::now()));
            let user = store
                .create_user(NewUser {
                    id: UserId::generate(),
                    workspace_id: workspace,
                    email,
                    role,
                    password,
                    setup: invitation.as_ref().map(|(_, setup)| setup.clone()),
                    actor: Actor::cli(),
                })
                .await
                .map_err(|error| match error {
                    StoreError::Conflict(message) => anyhow::anyhow!(message),
                    other => other.into(),
                })?;
            let mut printed = serde_json::json!({ "user": UserObject::from(user) });
            if let Some((secret, setup)) = invitation {
                printed["password_setup_link"] =
                    password_setup_link(&console_url, secret.expose()).into();
                printed["password_setup_expires_at"] = setup.expires_at.to_string().into();
            }
            output::print_json(&printed)
        }
        UserCommand::List { workspace } => {
            let workspace = crate::existing_workspace(store, &workspace).await?;
            let users: Vec<UserObject> = store
                .list_users(&workspace)
                .await?
                .into_iter()
                .map(UserObject::from)
                .collect();
            output::print_json(&serde_json::json!({ "users": users }))
        }
        UserCommand::Update {
            user,
            role,
            password_stdin,
        } => {
            let user = find_user(store, &user).await?;
            let password = password_stdin.then(password_from_stdin).transpose()?;
            let update = UserUpdate {
                role,
                password,
                setup: None,
            };
            let user = store
                .update_user(&user.workspace_id, &user.id, update, &Actor::cli())
                .await?
                .context("the user was removed meanwhile")?;
            output::print_json(&serde_json::json!({ "user": UserObject::from(user) }))
        }
        UserCommand::Remove { user } => {
            let user = find_user(store, &user).await?;
            if !store
                .remove_user(&user.workspace_id, &user.id, &Actor::cli())
                .await?
            {
                bail!("the user was removed meanwhile");
            }
            output::print_json(&serde_json::json!({
                "removed": user.id.as_str(),
                "workspace_id": user.workspace_id.as_str(),
            }))
        }
    }
}

/// `serve`'s identity provider flags (OpenID Connect).
#[derive(clap::Args, Debug)]
pub struct OidcArgs {
    /// The identity provider's issuer URL (discovery is under it): people sign in with it
    /// beside their password. Give the client id and secret too.
    #[arg(long, env = "SWITCHBOARD_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_client_secret"])]
    pub oidc_issuer: Option<String>,
    /// The client id registered at the provider (its redirect URI:
    /// <public URL>/auth/oidc/callback).
    #[arg(long, env = "SWITCHBOARD_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// The client's secret.
    #[arg(
        long,
        env = "SWITCHBOARD_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret: Option<String>,
    /// Email domains whose people may sign in through the provider without an invitation,
    /// comma separated (example.com,example.org); they join --oidc-workspace as viewers.
    #[arg(long, env = "SWITCHBOARD_OIDC_ALLOWED_DOMAINS", value_delimiter = ',', requires_all = ["oidc_issuer", "oidc_workspace"])]
    pub oidc_allowed_domains: Vec<String>,
    /// The workspace (ws_…) people of an allowed domain join.
    #[arg(
        long,
        env = "SWITCHBOARD_OIDC_WORKSPACE",
        requires = "oidc_allowed_domains"
    )]
    pub oidc_workspace: Option<String>,
}

impl OidcArgs {
    /// The settings, checked; `None` without an issuer.
    pub async fn settings(
        &self,
        store: &dyn Store,
    ) -> Result<Option<switchboard_server::oidc::OidcSettings>> {
        let (Some(issuer), Some(client_id), Some(client_secret)) = (
            &self.oidc_issuer,
            &self.oidc_client_id,
            &self.oidc_client_secret,
        ) else {
            return Ok(None);
        };
        let parsed = url::Url::parse(issuer).context("--oidc-issuer")?;
        if !matches!(parsed.scheme(), "https" | "http") {
            bail!("--oidc-issuer must be an https:// URL");
        }
        let workspace = match &self.oidc_workspace {
            Some(id) => Some(crate::existing_workspace(store, id).await?),
            None => None,
        };
        let mut allowed_domains = Vec::new();
        for domain in &self.oidc_allowed_domains {
            let domain = domain.trim().to_lowercase();
            if domain.is_empty() || domain.contains('@') || !domain.contains('.') {
                bail!("--oidc-allowed-domains: {domain:?} is not a domain (like example.com)");
            }
            allowed_domains.push(domain);
        }
        Ok(Some(switchboard_server::oidc::OidcSettings {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            allowed_domains,
            workspace,
        }))
    }
}
