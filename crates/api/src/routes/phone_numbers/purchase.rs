//! The catalogue to buy from and buying, race-safe and idempotent.

use super::*;

/// A number in the shape of Plivo's search results (DialNexa's `AvailablePhoneNumber`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AvailablePhoneNumber)]
pub struct AvailableNumber {
    #[schema(example = "+14155550100")]
    number: String,
    /// `local`, `tollfree` or `mobile`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "local")]
    number_type: &'static str,
    /// US dollars a month, a decimal string.
    #[schema(example = "1.15")]
    monthly_rental_rate: String,
    #[schema(example = "0.00")]
    setup_rate: String,
    voice_enabled: bool,
    sms_enabled: bool,
    mms_enabled: bool,
    #[schema(example = "US")]
    country_iso: String,
    #[schema(example = "+14155550100")]
    number_format: String,
}

/// Search results in Plivo's envelope.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AvailablePhoneNumbersResponse)]
pub struct AvailableNumbers {
    /// The request id.
    api_id: String,
    objects: Vec<AvailableNumber>,
    meta: SearchMeta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchMeta {
    /// How many numbers match (over the ones the provider answered: see `limit`).
    total_count: usize,
    /// (ext) The page's size and where it starts in the matches.
    #[schema(example = 100)]
    limit: usize,
    #[schema(example = 0)]
    offset: usize,
}

/// The query of a search.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it field by field"
)]
pub struct SearchQuery {
    /// ISO country code (e.g. `US`, `GB`, `CA`); one of the country rules.
    #[param(example = "US")]
    country_iso: String,
    /// Letter case is ignored.
    #[param(rename = "type", value_type = Option<NumberTypeName>, inline, example = "local")]
    number_type: Option<String>,
    /// Provider to search; the default provider when absent.
    #[param(example = "sandbox")]
    provider: Option<String>,
    /// (ext) Digits the national number starts with (without the country code): an area
    /// code such as `415`, or `20` for London.
    #[param(pattern = "^[0-9]{1,5}$", example = "415")]
    area_code: Option<String>,
    /// (ext) Digits found anywhere in the national number.
    #[param(pattern = "^[0-9]{1,10}$", example = "555")]
    contains: Option<String>,
    /// (ext) `voice`, `sms` or `voice,sms`: only numbers that carry them.
    #[param(pattern = "^(voice|sms)(,(voice|sms))?$", example = "voice")]
    capability: Option<String>,
    /// (ext) Numbers in one page, 1 to 100 (default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// (ext) Matches to skip (default 0).
    #[param(minimum = 0, maximum = 10000)]
    offset: Option<u32>,
}

impl From<Offer> for AvailableNumber {
    fn from(offer: Offer) -> Self {
        Self {
            number: offer.number.to_string(),
            number_type: match offer.number_type {
                NumberType::Local => "local",
                NumberType::TollFree => "tollfree",
                NumberType::Mobile => "mobile",
            },
            monthly_rental_rate: offer.monthly_cost.to_string(),
            setup_rate: offer.setup_cost.to_string(),
            voice_enabled: offer.voice,
            sms_enabled: offer.sms,
            mms_enabled: offer.mms,
            country_iso: offer.number.country_code().to_owned(),
            number_format: offer.number.to_string(),
        }
    }
}

/// Search available phone numbers.
///
/// Numbers the provider offers, never one somebody here already owns. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/plivo-numbers",
    operation_id = "searchAvailablePhoneNumbers",
    tag = "Phone Numbers",
    params(SearchQuery),
    responses(
        (status = 200, description = "Numbers on offer.", body = AvailableNumbers),
        (status = 400, description = "`country_iso` is missing or unknown, or `type`, `provider` or a filter (`area_code`, `contains`, `capability`, `limit`, `offset`) is invalid.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "country_iso is required", "error": "Bad Request"})),
        (status = 502, description = "The provider could not be reached.", body = ErrorResponse),
    )
)]
pub async fn search_available(
    State(state): State<AppState>,
    auth: Authenticated,
    request_id: Option<axum::Extension<RequestId>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    search(state, auth, request_id, query).await
}

/// Search available phone numbers, at any provider (ext).
///
/// The same search as `GET /v1/organization-phone-numbers/plivo-numbers` (whose path is
/// DialNexa's, from when it sold Plivo's numbers only), under a name that does not say
/// Plivo: `provider` picks `sandbox`, `plivo`, `twilio` or `telnyx`. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/available-phone-numbers",
    operation_id = "searchAvailablePhoneNumbersAnyProvider",
    tag = "Phone Numbers",
    params(SearchQuery),
    responses(
        (status = 200, description = "Numbers on offer.", body = AvailableNumbers),
        (status = 400, description = "`country_iso` is missing or unknown, or `type`, `provider` or a filter (`area_code`, `contains`, `capability`, `limit`, `offset`) is invalid.", body = ErrorResponse),
        (status = 502, description = "The provider could not be reached.", body = ErrorResponse),
    )
)]
pub async fn search_available_any_provider(
    State(state): State<AppState>,
    auth: Authenticated,
    request_id: Option<axum::Extension<RequestId>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    search(state, auth, request_id, query).await
}

async fn search(
    state: AppState,
    auth: Authenticated,
    request_id: Option<axum::Extension<RequestId>>,
    query: HashMap<String, String>,
) -> Result<Response, ApiError> {
    auth.require(Scope::PhoneNumbersRead)?;
    let country = query
        .get("country_iso")
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("country_iso is required"))?;
    let (search, page) = search_filters(country, &query)?;
    let countries = state.store.countries().await?;
    if !countries
        .iter()
        .any(|c| c.country_iso == search.country_iso)
    {
        let known: Vec<&str> = countries.iter().map(|c| c.country_iso.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "country_iso must be one of: {}",
            known.join(", ")
        )));
    }
    let provider = match query.get("provider") {
        Some(id) => state
            .providers
            .get(id)
            .ok_or_else(|| unknown_provider(&state, "provider"))?,
        None => state
            .providers
            .default_provider()
            .ok_or_else(|| ApiError::Internal("no provider configured".into()))?,
    };
    let offers = provider
        .search(&search)
        .await
        .map_err(|e| provider_failure(provider.as_ref(), e))?;
    // Never offer a number that someone here already owns (or is buying).
    let numbers: Vec<E164> = offers.iter().map(|o| o.number.clone()).collect();
    let taken = state.store.registered_numbers(&numbers).await?;
    let matching: Vec<Offer> = offers
        .into_iter()
        .filter(|o| !taken.contains(&o.number) && search.matches(o))
        .collect();
    let total = matching.len();
    let objects: Vec<AvailableNumber> = matching
        .into_iter()
        .skip(page.offset)
        .take(page.limit)
        .map(AvailableNumber::from)
        .collect();
    let api_id = request_id
        .and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &AvailableNumbers {
            api_id,
            objects,
            meta: SearchMeta {
                total_count: total,
                limit: page.limit,
                offset: page.offset,
            },
        },
    ))
}

/// The record of a number `provider` holds for the workspace (bought now, or taken over by
/// `numbers import --from`), with the type, cost and capabilities of its offer.
pub fn held_number(offer: Offer, provider: &str) -> NewPhoneNumber {
    NewPhoneNumber {
        number: offer.number,
        number_type: offer.number_type,
        monthly_cost: offer.monthly_cost,
        capabilities: Capabilities {
            voice: offer.voice,
            sms: offer.sms,
        },
        label: None,
        nickname: None,
        inbound_agent_id: None,
        status: NumberStatus::Active,
        provider: provider.to_owned(),
        sip_trunk_enabled: false,
    }
}

/// Which page of a search's matches to answer.
#[derive(Clone, Copy, Debug)]
struct SearchPage {
    limit: usize,
    offset: usize,
}

/// The search's filters and page from its query; every problem in one 400.
fn search_filters(
    country_iso: String,
    query: &HashMap<String, String>,
) -> Result<(NumberSearch, SearchPage), ApiError> {
    let mut problems = Vec::new();
    let number_type = query.get("type").and_then(|t| {
        NumberType::parse(t)
            .map_err(|e| problems.push(format!("type {e}")))
            .ok()
    });
    let mut digits = |name: &str, max: usize| {
        let value = query.get(name)?.trim();
        if !value.is_empty() && value.len() <= max && value.bytes().all(|b| b.is_ascii_digit()) {
            Some(value.to_owned())
        } else {
            problems.push(format!(
                "{name} must be 1 to {max} digits (of the national number, without the country code)"
            ));
            None
        }
    };
    let area_code = digits("area_code", 5);
    let contains = digits("contains", 10);
    let (mut voice, mut sms) = (false, false);
    if let Some(list) = query.get("capability") {
        for capability in list.split(',').map(str::trim) {
            match capability {
                "voice" => voice = true,
                "sms" => sms = true,
                other => problems.push(format!(
                    "capability must be voice, sms or voice,sms (not {other:?})"
                )),
            }
        }
    }
    let mut bounded = |name: &str, min: usize, max: usize, default: usize| match query.get(name) {
        None => default,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                problems.push(format!("{name} must be an integer from {min} to {max}"));
                default
            }
        },
    };
    // A search's page holds as many as a list's at most, and that many unless asked.
    let max_page = crate::extract::MAX_LIMIT as usize;
    let limit = bounded("limit", 1, max_page, max_page);
    let offset = bounded("offset", 0, 10_000, 0);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    Ok((
        NumberSearch {
            country_iso,
            number_type,
            area_code,
            contains,
            voice,
            sms,
        },
        SearchPage { limit, offset },
    ))
}

fn unknown_provider(state: &AppState, field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{field} must be one of: {}",
        state.providers.ids().join(", ")
    ))
}

/// What to buy (`phone_number`, `telephony_provider_id` and `country_iso` are accepted too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PurchasePhoneNumberRequest)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field to report every problem at once"
)]
pub struct PurchaseRequest {
    /// E.164, one of the search results.
    #[serde(rename = "phoneNumber")]
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// The provider that offered it, e.g. `sandbox` or `plivo`.
    #[serde(rename = "telephonyProviderId")]
    #[schema(example = "sandbox")]
    telephony_provider_id: String,
    /// The number's country, enabled for the workspace.
    #[serde(rename = "countryISO")]
    #[schema(example = "US")]
    country_iso: String,
}

/// The purchase's outcome and the new record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PurchasePhoneNumberResponse)]
pub struct PurchaseResponse {
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// `active` once bought; `pending` (202) while the provider completes its order.
    #[schema(value_type = String, example = "active")]
    status: &'static str,
    #[schema(example = "Phone number purchased successfully.")]
    message: String,
    organization_phone_number: PhoneNumberObject,
}

/// Purchase a phone number.
///
/// Needs `phone_numbers:write`. With an `Idempotency-Key`, a retry gets the first answer
/// again instead of a second purchase.
///
/// The number is claimed in the database first (a `pending` record: the unique constraint
/// lets exactly one of concurrent buyers through), then bought, then made `active`. If the
/// provider sold it but storing fails, it is released at the provider before the error is
/// returned, so no paid number is ever orphaned.
#[utoipa::path(
    post,
    path = "/v1/organization-phone-numbers/purchase",
    operation_id = "purchasePhoneNumber",
    tag = "Phone Numbers",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "Up to 255 visible ASCII characters. The same key with the same body within 24 hours gets the first response again (with `Idempotent-Replayed: true`); with another body, a 422."),
    ),
    request_body = PurchaseRequest,
    responses(
        (status = 201, description = "Bought and registered.", body = PurchaseResponse),
        (status = 202, description = "(ext) Ordered from a provider that completes orders later (Telnyx): the number is `pending`, and becomes `active` when the order completes (or goes, if it fails).", body = PurchaseResponse),
        (status = 400, description = "A field is invalid, the country is not enabled, the provider does not offer the number (any more), or the carrier wants an address or regulatory bundle its account has not given (its own message quoted).", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": ["phoneNumber must be a valid E.164 phone number", "countryISO should not be empty"], "error": "Bad Request"})),
        (status = 402, description = "(ext) The carrier account lacks the funds (its own message quoted); nothing was bought.", body = ErrorResponse,
            example = json!({"statusCode": 402, "message": "twilio refused: the account lacks the funds (Account not active)", "error": "Payment Required"})),
        (status = 403, description = "The country requires a KYC-verified workspace, or the key lacks the scope.", body = ErrorResponse),
        (status = 409, description = "Somebody owns or is buying the number, or a request with this Idempotency-Key is still running.", body = ErrorResponse,
            example = json!({"statusCode": 409, "message": "Phone number already registered", "error": "Conflict"})),
        (status = 422, description = "The Idempotency-Key was used with another body.", body = ErrorResponse),
        (status = 502, description = "The provider could not be reached; nothing was bought.", body = ErrorResponse),
    )
)]
pub async fn purchase(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let body = body.parse()?;
    let raw = body.raw.clone();
    with_idempotency(
        &state,
        &caller,
        &headers,
        "POST /v1/organization-phone-numbers/purchase",
        &raw,
        || buy(&state, &caller, body),
    )
    .await
}

async fn buy(state: &AppState, caller: &Caller, body: JsonObject) -> Result<Response, ApiError> {
    let mut fields = Fields::new(body.object);
    let number = fields.required_string("phoneNumber", Some("phone_number"));
    let provider_id = fields.required_string("telephonyProviderId", Some("telephony_provider_id"));
    let country = fields.required_string("countryISO", Some("country_iso"));
    let number = number.and_then(|n| {
        E164::parse(&n)
            .map_err(|e| fields.problem(format!("phoneNumber {e}")))
            .ok()
    });
    let provider = provider_id.and_then(|id| match state.providers.get(&id) {
        Some(provider) => Some(provider.clone()),
        None => {
            fields.problem(format!(
                "telephonyProviderId must be one of: {}",
                state.providers.ids().join(", ")
            ));
            None
        }
    });
    let country = country.map(|c| c.to_ascii_uppercase());
    if let (Some(number), Some(country)) = (&number, &country)
        && number.country_code() != country
    {
        fields.problem(format!(
            "phoneNumber is not a number of countryISO {country}"
        ));
    }
    fields.finish()?;
    let (Some(number), Some(provider), Some(country)) = (number, provider, country) else {
        return Err(ApiError::Internal(
            "validation passed without values".into(),
        ));
    };

    check_country_policy(state, caller, &country, CountryUse::Purchase).await?;

    let claim = NewPhoneNumber {
        number_type: number.derived_type(),
        number: number.clone(),
        monthly_cost: Money::ZERO,
        capabilities: Capabilities::VOICE,
        label: None,
        nickname: None,
        inbound_agent_id: None,
        status: NumberStatus::Pending,
        provider: provider.id().to_owned(),
        sip_trunk_enabled: false,
    };
    let pending = match state
        .store
        .claim_phone_number(&caller.workspace_id, claim)
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::Conflict(_)) => return Err(ApiError::Conflict(ALREADY_REGISTERED.into())),
        Err(other) => return Err(other.into()),
    };

    let offer = match provider.buy(&number).await {
        Ok(offer) => offer,
        Err(ProviderError::OrderPending { order, offer }) => {
            return order_pending(state, caller, &pending.id, provider.id(), &order, *offer).await;
        }
        Err(error) => {
            if let Err(cleanup) = state
                .store
                .drop_claim(&caller.workspace_id, &pending.id)
                .await
            {
                tracing::error!(number = %number, error = %cleanup, "could not drop the claim of a failed purchase");
            }
            return Err(provider_failure(provider.as_ref(), error));
        }
    };
    let bought = held_number(offer, provider.id());
    match state
        .store
        .activate_phone_number(&caller.workspace_id, &pending.id, bought, &caller.actor())
        .await
    {
        Ok(stored) => Ok(json_response(
            StatusCode::CREATED,
            &PurchaseResponse {
                phone_number: stored.phone_number.clone(),
                status: stored.status.as_str(),
                message: "Phone number purchased successfully.".to_owned(),
                organization_phone_number: PhoneNumberObject::from(stored),
            },
        )),
        Err(store_error) => {
            // Sold but not stored: give it back before answering, so nobody pays for a
            // number Switchboard does not know it has.
            match provider.release(&number).await {
                Ok(()) => {
                    tracing::warn!(number = %number, "purchase not stored; number released at the provider")
                }
                Err(release_error) => tracing::error!(
                    number = %number, provider = provider.id(), error = %release_error,
                    "ORPHANED NUMBER: bought, not stored, and the release failed; release it by hand"
                ),
            }
            if let Err(cleanup) = state
                .store
                .drop_claim(&caller.workspace_id, &pending.id)
                .await
            {
                tracing::error!(number = %number, error = %cleanup, "could not drop the claim of a failed purchase");
            }
            Err(match store_error {
                StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
                other => ApiError::Internal(Box::new(other)),
            })
        }
    }
}

/// A purchase whose order the provider completes later: the claim keeps the number's terms
/// and stays `pending` (202); the purchase sweep activates it when the order completes, or
/// drops it when the order fails (see `claims`).
async fn order_pending(
    state: &AppState,
    caller: &Caller,
    claim: &PhoneNumberId,
    provider: &str,
    order: &str,
    offer: Offer,
) -> Result<Response, ApiError> {
    let mut terms = held_number(offer, provider);
    terms.status = NumberStatus::Pending;
    state
        .store
        .record_order_terms(&caller.workspace_id, claim, terms)
        .await?;
    let stored = state
        .store
        .get_phone_number(&caller.workspace_id, claim)
        .await?
        .ok_or_else(|| ApiError::Internal("a pending order's claim is gone".into()))?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &PurchaseResponse {
            phone_number: stored.phone_number.clone(),
            status: stored.status.as_str(),
            message: format!(
                "Phone number ordered: {provider} has not completed order {order} yet. It stays pending, and becomes active when the order completes."
            ),
            organization_phone_number: PhoneNumberObject::from(stored),
        },
    ))
}

/// What a number of a country is being taken on for: bought from a provider's stock, which
/// needs a country of the catalogue, or brought over a SIP trunk, which may be from anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CountryUse {
    Purchase,
    Link,
}

/// The workspace's rules for taking on a number of `country`, the same for purchases and SIP
/// links: the country must be enabled for the workspace (400), and a country whose regulator
/// wants the holder verified needs a KYC-verified workspace (403).
pub(super) async fn check_country_policy(
    state: &AppState,
    caller: &Caller,
    country: &str,
    use_: CountryUse,
) -> Result<(), ApiError> {
    let workspace = state
        .store
        .get_workspace(&caller.workspace_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's workspace is gone".into()))?;
    if !workspace.enabled_countries.iter().any(|c| c == country) {
        return Err(ApiError::bad_request(format!(
            "Country {country} is not enabled for this workspace"
        )));
    }
    let rule = state
        .store
        .countries()
        .await?
        .into_iter()
        .find(|c| c.country_iso == country);
    match rule {
        None if use_ == CountryUse::Purchase => Err(ApiError::bad_request(format!(
            "Country {country} is not supported"
        ))),
        Some(rule) if rule.requires_kyc && !workspace.kyc_verified => {
            Err(ApiError::ForbiddenBecause(format!(
                "Phone numbers in {country} require a KYC-verified workspace"
            )))
        }
        _ => Ok(()),
    }
}

/// A number some provider here has for sale cannot be linked: it is not the linker's, and
/// linking it would take it out of everyone's search and make every purchase of it a 409.
/// A provider that cannot be asked does not block the link (it is logged): whether a
/// provider is up must not decide whether a workspace can bring its own numbers.
pub(super) async fn refuse_provider_stock(state: &AppState, number: &E164) -> Result<(), ApiError> {
    for id in state.providers.ids() {
        let Some(provider) = state.providers.get(id) else {
            continue;
        };
        // Asked for this one number: its type, and all of its national digits.
        let search = NumberSearch {
            number_type: Some(number.derived_type()),
            area_code: Some(number.national_digits().to_owned()),
            ..NumberSearch::country(number.country_code())
        };
        match provider.search(&search).await {
            Ok(offers) if offers.iter().any(|offer| offer.number == *number) => {
                return Err(ApiError::Conflict(format!(
                    "Phone number is for sale by {id}: buy it with POST /v1/organization-phone-numbers/purchase instead of linking it"
                )));
            }
            Ok(_) => {}
            // Refused: the provider has nothing of that kind there to sell.
            Err(error) if error.is_refusal() => {}
            Err(error) => {
                tracing::warn!(number = %number, provider = id, error = %error, "could not ask the provider whether it sells a number being linked; linking it")
            }
        }
    }
    Ok(())
}
