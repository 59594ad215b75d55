//! `serve --demo`: a workspace to try the API with, on an empty database.

use crate::output::print_text;
use anyhow::{Context, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use switchboard_domain::{
    Capabilities, Destination, E164, Money, NumberStatus, PhoneNumberId, Scopes,
};
use switchboard_store::{Actor, NewAgent, NewPhoneNumber, NewWorkspace, Store, issue_api_key};

/// `(number, nickname, monthly cost, capabilities, routed to the first agent)`.
const DEMO_NUMBERS: &[(&str, &str, &str, Capabilities, bool)] = &[
    (
        "+912234567890",
        "Mumbai Support",
        "1.15",
        Capabilities::VOICE,
        true,
    ),
    (
        "+14155552671",
        "San Francisco Sales",
        "1.00",
        Capabilities {
            voice: true,
            sms: true,
        },
        false,
    ),
    (
        "+18005550199",
        "US Toll-free",
        "2.00",
        Capabilities::VOICE,
        true,
    ),
    (
        "+447400123456",
        "London Mobile",
        "3.50",
        Capabilities {
            voice: true,
            sms: true,
        },
        false,
    ),
];

/// Seeds the demo data when the database has no workspace yet and prints a key and a
/// ready `curl` line. On a database with data it changes nothing and says so.
pub async fn seed_and_announce(store: &dyn Store, listening: SocketAddr) -> Result<()> {
    if store.count_workspaces().await? > 0 {
        tracing::warn!(
            "--demo: the database already has workspaces, so no demo data was added; \
             create a key with `switchboard key create --workspace WS_ID`"
        );
        return Ok(());
    }
    let workspace = store
        .create_workspace(NewWorkspace {
            name: "Demo workspace".into(),
            enabled_countries: vec!["US".into(), "GB".into(), "IN".into()],
            kyc_verified: true,
        })
        .await?;
    // The support agent answers over SIP; the sales agent has no destination yet, which
    // the compliance review points out once a number routes to it.
    let support = NewAgent {
        name: "Support agent".into(),
        destination: Some(Destination::parse("sip:support@agents.example.com")?),
    };
    let support = store
        .create_agent(&workspace.id, support, &Actor::cli())
        .await?;
    let sales = NewAgent {
        name: "Sales agent".into(),
        destination: None,
    };
    store
        .create_agent(&workspace.id, sales, &Actor::cli())
        .await?;
    let mut numbers = Vec::new();
    for (number, nickname, cost, capabilities, routed) in DEMO_NUMBERS {
        let number = E164::parse(number).with_context(|| format!("demo number {number}"))?;
        numbers.push(NewPhoneNumber {
            number_type: number.derived_type(),
            number,
            monthly_cost: Money::parse(cost).context("demo price")?,
            capabilities: *capabilities,
            label: Some("demo".into()),
            nickname: Some((*nickname).into()),
            inbound_agent_id: routed.then(|| support.id.clone()),
            status: NumberStatus::Active,
            provider: "sandbox".into(),
            sip_trunk_enabled: false,
        });
    }
    let ids = store
        .import_phone_numbers(&workspace.id, numbers, &Actor::cli())
        .await?;
    let key = issue_api_key(store, &workspace.id, "demo", Scopes::all()).await?;
    print_text(&banner(
        &workspace.id.to_string(),
        key.token.expose(),
        &ids,
        listening,
    ))
}

fn banner(workspace: &str, token: &str, ids: &[PhoneNumberId], listening: SocketAddr) -> String {
    let base = format!("http://{}", reachable(listening));
    let first = ids.first().map_or("", PhoneNumberId::as_str);
    format!(
        "\nDemo workspace {workspace} is ready, with 2 agents and {count} numbers.\n\
         API key (shown only now): {token}\n\n\
         Console: {base}/console/ (sign in with the key)\n\n\
         Try it:\n  curl -s {base}/v1/organization-phone-numbers/{first} \\\n    -H 'Authorization: Bearer {token}'\n",
        count = ids.len(),
    )
}

/// An address a local `curl` can reach: a wildcard listener is reached on loopback.
fn reachable(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), address.port())
        }
        _ => address,
    }
}
