//! Linking a number the workspace owns elsewhere over a SIP trunk.

use super::*;

/// `terminationUri`: `host[:port]`, no `sip:` scheme.
fn check_termination_uri(uri: &str) -> Result<(), String> {
    if uri.to_ascii_lowercase().starts_with("sip:") || uri.to_ascii_lowercase().starts_with("sips:")
    {
        return Err("terminationUri must not include the sip: prefix; give host[:port]".into());
    }
    let (host, port) = match uri.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (uri, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err("terminationUri must be host[:port], e.g. 31974861099010243.zt.plivo.com:5060".into())
    }
}

/// A bring-your-own number and its trunk (snake_case spellings are accepted too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LinkSipTrunkRequest)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field to report every problem at once"
)]
pub struct SipTrunkRequest {
    /// E.164.
    #[serde(rename = "phoneNumber")]
    #[schema(example = "+14155550123")]
    phone_number: String,
    /// SIP termination `host[:port]`, without a `sip:` prefix.
    #[serde(rename = "terminationUri")]
    #[schema(example = "31974861099010243.zt.plivo.com:5060")]
    termination_uri: String,
    /// `userpass` (the default) needs both credentials; `ip` forbids them.
    #[serde(rename = "authMode")]
    #[schema(value_type = Option<AuthMode>)]
    auth_mode: Option<String>,
    /// Required for `userpass`.
    #[serde(rename = "sipTrunkUserName")]
    #[schema(example = "sip-user")]
    sip_trunk_user_name: Option<String>,
    /// Required for `userpass`; stored encrypted, never returned.
    #[serde(rename = "sipTrunkPassword")]
    #[schema(example = "s3cret-Passw0rd")]
    sip_trunk_password: Option<String>,
    #[schema(max_length = 255, example = "US BYOC Line")]
    nickname: Option<String>,
}

/// How the SIP provider authorizes the trunk.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "documents the values of authMode")]
pub enum AuthMode {
    Userpass,
    Ip,
}

/// Link a SIP trunk.
///
/// Registers a bring-your-own number reached over a SIP trunk. Needs `phone_numbers:write`.
#[utoipa::path(
    post,
    path = "/v1/organization-phone-numbers/sip-trunks",
    operation_id = "linkSipTrunk",
    tag = "Phone Numbers",
    request_body = SipTrunkRequest,
    responses(
        (status = 201, description = "Linked.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of the new number"))),
        (status = 400, description = "Invalid number, termination host, authentication mode or credential combination.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "sipTrunkUserName and sipTrunkPassword are required when authMode=userpass", "error": "Bad Request"})),
        (status = 403, description = "The number's country requires a KYC-verified workspace, or the key lacks the scope.", body = ErrorResponse),
        (status = 409, description = "The number is already registered, or a provider here has it for sale (buy it instead).", body = ErrorResponse,
            example = json!({"statusCode": 409, "message": "Phone number already registered", "error": "Conflict"})),
    )
)]
pub async fn link_sip_trunk(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let mut fields = Fields::new(body.parse()?.object);
    let number = fields.required_string("phoneNumber", Some("phone_number"));
    let uri = fields.required_string("terminationUri", Some("termination_uri"));
    let mode = fields
        .optional_string("authMode", Some("auth_mode"))
        .unwrap_or_else(|| "userpass".into());
    let username = fields.optional_string("sipTrunkUserName", Some("sip_trunk_user_name"));
    let password = fields.optional_string("sipTrunkPassword", Some("sip_trunk_password"));
    let nickname = fields.optional_string("nickname", None);
    let number = number.and_then(|n| {
        E164::parse(&n)
            .map_err(|e| fields.problem(format!("phoneNumber {e}")))
            .ok()
    });
    if let Some(uri) = &uri
        && let Err(problem) = check_termination_uri(uri)
    {
        fields.problem(problem);
    }
    if nickname
        .as_ref()
        .is_some_and(|n| n.chars().count() > NICKNAME_MAX_CHARS)
    {
        fields.problem(format!(
            "nickname must be shorter than or equal to {NICKNAME_MAX_CHARS} characters"
        ));
    }
    let present = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.is_empty());
    let auth_mode = match mode.as_str() {
        "userpass" => match (username, password) {
            (Some(username), Some(password)) if !is_blank(&username) && !is_blank(&password) => {
                Some(SipAuthMode::UserPass {
                    username,
                    password_sealed: state.sealing_key.seal(password.as_bytes()),
                })
            }
            _ => {
                fields.problem(
                    "sipTrunkUserName and sipTrunkPassword are required when authMode=userpass",
                );
                None
            }
        },
        "ip" => {
            if present(&username) || present(&password) {
                fields.problem(
                    "sipTrunkUserName and sipTrunkPassword must not be set when authMode=ip",
                );
                None
            } else {
                Some(SipAuthMode::Ip)
            }
        }
        _ => {
            fields.problem("authMode must be one of the following values: userpass, ip");
            None
        }
    };
    fields.finish()?;
    let (Some(number), Some(termination_uri), Some(auth_mode)) = (number, uri, auth_mode) else {
        return Err(ApiError::Internal(
            "validation passed without values".into(),
        ));
    };
    check_country_policy(&state, &caller, number.country_code(), CountryUse::Link).await?;
    refuse_provider_stock(&state, &number).await?;
    let new = NewPhoneNumber {
        number_type: number.derived_type(),
        number,
        monthly_cost: Money::ZERO,
        capabilities: Capabilities::VOICE,
        label: None,
        nickname,
        inbound_agent_id: None,
        status: NumberStatus::Active,
        provider: "sip_trunk".into(),
        sip_trunk_enabled: true,
    };
    let trunk = NewSipTrunk {
        termination_uri,
        auth_mode,
    };
    match state
        .store
        .link_sip_trunk_number(&caller.workspace_id, new, trunk, &caller.actor())
        .await
    {
        Ok(stored) => Ok(number_response(StatusCode::CREATED, stored)),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(ALREADY_REGISTERED.into())),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_termination_uri;

    #[test]
    fn termination_uris() {
        for good in [
            "31974861099010243.zt.plivo.com:5060",
            "sip.example.com",
            "10.0.0.1:5080",
        ] {
            assert!(check_termination_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "sip:host.example.com",
            "SIP:host",
            "host:0",
            "host:99999",
            "bad host",
            "",
            "-x.com",
            "a..b",
        ] {
            assert!(check_termination_uri(bad).is_err(), "{bad}");
        }
    }
}
