//! Signing in through an identity provider, by OpenID Connect: the authorization code flow
//! with PKCE, for a confidential client (Switchboard holds a client secret).
//!
//! The provider is found by discovery (`{issuer}/.well-known/openid-configuration`, read once
//! and kept); its signing keys (`jwks_uri`) are read when first needed and again when a token
//! names a key they do not have (the provider rotated). An ID token counts only when its
//! signature is the provider's (an asymmetric algorithm: never `none`, never a shared secret),
//! its issuer is the configured one, its audience is this client, it has not expired, and its
//! nonce is the one this sign-in sent. The state and the PKCE verifier live in the database
//! for ten minutes and are taken once (see the store's `take_oidc_login`), so a callback cannot
//! be replayed on any replica.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::RwLock;
use std::time::Duration;
use switchboard_domain::WorkspaceId;

/// How the server reaches the identity provider, and whom it lets in.
#[derive(Clone)]
pub struct OidcSettings {
    /// `https://accounts.example.com` (discovery is under it).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Email domains whose people may sign in without an invitation (as viewers of
    /// `workspace`); lower case.
    pub allowed_domains: Vec<String>,
    /// Where people of an allowed domain join.
    pub workspace: Option<WorkspaceId>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"…")
            .field("allowed_domains", &self.allowed_domains)
            .field("workspace", &self.workspace)
            .finish()
    }
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense; trying again may work.
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
    /// The provider's answer is not to be trusted (or it refused).
    #[error("the identity provider's answer was refused: {0}")]
    Refused(String),
}

/// The provider's endpoints, as discovery gives them.
#[derive(Clone, Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: Option<String>,
}

/// What an ID token says of the person, once verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: EmailVerified,
}

#[derive(Debug, Deserialize)]
struct UserInfo {
    sub: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: EmailVerified,
}

/// `email_verified` is a boolean, but some providers send the string "true".
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum EmailVerified {
    #[default]
    Missing,
    Flag(bool),
    Text(String),
}

impl EmailVerified {
    fn is_true(&self) -> bool {
        match self {
            EmailVerified::Flag(flag) => *flag,
            EmailVerified::Text(text) => text == "true",
            EmailVerified::Missing => false,
        }
    }
}

/// The signature algorithms an ID token may use: the provider's own keys, never a shared
/// secret or none.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Checks an ID token against the provider's keys: signature, issuer, audience, expiry (a
/// minute's leeway for clocks) and nonce.
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<Identity, OidcError> {
    let refused = |why: String| OidcError::Refused(why);
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| refused(format!("not a JWT ({e})")))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(refused(format!(
            "the ID token is signed with {:?}, not with the provider's keys",
            header.alg
        )));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| refused("the ID token names a key the provider does not publish".into()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| refused(format!("unusable key ({e})")))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|e| refused(format!("the ID token is not valid ({e})")))?
        .claims;
    let nonce_matches = claims
        .nonce
        .as_deref()
        .is_some_and(|sent| crate::sessions::same_secret(sent, nonce));
    if !nonce_matches {
        return Err(refused("the ID token's nonce is not this sign-in's".into()));
    }
    Ok(Identity {
        subject: claims.sub,
        email: claims.email,
        email_verified: claims.email_verified.is_true(),
    })
}

/// A new PKCE verifier: 80 random alphanumerics (RFC 7636 asks for 43 to 128).
pub fn new_pkce_verifier() -> String {
    let half = || switchboard_domain::ApiKeySecret::generate().reveal();
    format!("{}{}", half().expose(), half().expose())
}

/// PKCE's challenge for a verifier (S256).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The identity provider, as one replica knows it.
pub struct IdentityProvider {
    pub settings: OidcSettings,
    http: reqwest::Client,
    discovery: tokio::sync::OnceCell<Discovery>,
    keys: RwLock<Option<JwkSet>>,
}

impl std::fmt::Debug for IdentityProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProvider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How long the provider has for each request.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

impl IdentityProvider {
    pub fn new(settings: OidcSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // Only a TLS backend that cannot start fails here; the defaults then do.
            .unwrap_or_default();
        Self {
            settings,
            http,
            discovery: tokio::sync::OnceCell::new(),
            keys: RwLock::new(None),
        }
    }

    async fn discovery(&self) -> Result<&Discovery, OidcError> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let found: Discovery = self.get_json(&url).await?;
                // Discovery must describe the issuer it was asked about (OpenID Connect
                // Discovery 1.0, section 4.3).
                if found.issuer.trim_end_matches('/') != self.settings.issuer.trim_end_matches('/')
                {
                    return Err(OidcError::Refused(format!(
                        "discovery describes issuer {:?}, not {:?}",
                        found.issuer, self.settings.issuer
                    )));
                }
                Ok(found)
            })
            .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(OidcError::Unavailable(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| OidcError::Unavailable(format!("{url}: {e}")))
    }

    /// Where to send the browser to sign in.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, OidcError> {
        let discovery = self.discovery().await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| OidcError::Refused(format!("authorization endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Trades the callback's code for the person's verified identity.
    pub async fn identify(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let discovery = self.discovery().await?;
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .basic_auth(
                form_encode(&self.settings.client_id),
                Some(form_encode(&self.settings.client_secret)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("an error");
            let description = body["error_description"]
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Err(OidcError::Refused(format!(
                "the token endpoint answered {status} ({error}{description})"
            )));
        }
        let token = body["id_token"]
            .as_str()
            .ok_or_else(|| OidcError::Refused("the token endpoint sent no ID token".into()))?;
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let keys = self.keys_with(kid.as_deref(), &discovery.jwks_uri).await?;
        let identity = verify_id_token(
            token,
            &keys,
            &discovery.issuer,
            &self.settings.client_id,
            nonce,
        )?;
        if identity.email.is_some() {
            return Ok(identity);
        }
        // Providers that follow the core spec to the letter put the `email` scope's claims in
        // the UserInfo answer, not in the ID token.
        match (&discovery.userinfo_endpoint, body["access_token"].as_str()) {
            (Some(endpoint), Some(access_token)) => {
                self.user_info(endpoint, access_token, identity).await
            }
            _ => Ok(identity),
        }
    }

    /// The person's address from the UserInfo endpoint; its `sub` must be the ID token's
    /// (OpenID Connect Core 1.0, section 5.3.2), or it describes someone else.
    async fn user_info(
        &self,
        endpoint: &str,
        access_token: &str,
        identity: Identity,
    ) -> Result<Identity, OidcError> {
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("userinfo endpoint: {e}")))?;
        if !response.status().is_success() {
            return Err(OidcError::Refused(format!(
                "the userinfo endpoint answered {}",
                response.status()
            )));
        }
        let claims: UserInfo = response
            .json()
            .await
            .map_err(|e| OidcError::Unavailable(format!("userinfo endpoint: {e}")))?;
        if claims.sub != identity.subject {
            return Err(OidcError::Refused(
                "the userinfo endpoint describes another subject than the ID token".into(),
            ));
        }
        Ok(Identity {
            email: claims.email,
            email_verified: claims.email_verified.is_true(),
            ..identity
        })
    }

    /// The provider's keys, read again when they lack `kid` (the provider rotated).
    async fn keys_with(&self, kid: Option<&str>, jwks_uri: &str) -> Result<JwkSet, OidcError> {
        let known = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(keys) = known
            && kid.is_none_or(|kid| keys.find(kid).is_some())
        {
            return Ok(keys);
        }
        let fresh: JwkSet = self.get_json(jwks_uri).await?;
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    /// Whether a person with this verified address may sign in without an invitation, and
    /// where they join.
    pub fn admits(&self, email: &switchboard_domain::Email) -> Option<&WorkspaceId> {
        let domain = email.domain();
        self.settings
            .allowed_domains
            .iter()
            .any(|allowed| allowed == domain)
            .then_some(self.settings.workspace.as_ref())
            .flatten()
    }
}

/// RFC 6749 section 2.3.1: the client id and secret are form-encoded before HTTP Basic. A
/// space goes as `%20`, not `+`: providers that decode with plain percent-decoding (many do)
/// read both alike only then.
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    // A key made for these tests only (crates/server/tests/fixtures): it signs nothing real.
    const KEY: &str = include_str!("../tests/fixtures/oidc-test-key.pem");
    const JWKS: &str = include_str!("../tests/fixtures/oidc-test-jwks.json");
    const ISSUER: &str = "https://idp.example.com";

    fn keys() -> JwkSet {
        serde_json::from_str(JWKS).expect("JWKS")
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn token(claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-key-1".into());
        let key = EncodingKey::from_rsa_pem(KEY.as_bytes()).expect("test key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }

    fn claims() -> serde_json::Value {
        json!({"iss": ISSUER, "aud": "switchboard", "sub": "u1", "exp": now() + 300,
               "iat": now(), "nonce": "n-123", "email": "ann@example.com", "email_verified": true})
    }

    fn verify(token: &str) -> Result<Identity, OidcError> {
        verify_id_token(token, &keys(), ISSUER, "switchboard", "n-123")
    }

    #[test]
    fn a_good_token_names_the_person() {
        assert_eq!(
            verify(&token(claims())),
            Ok(Identity {
                subject: "u1".into(),
                email: Some("ann@example.com".into()),
                email_verified: true
            })
        );
        let mut unverified = claims();
        unverified["email_verified"] = json!(false);
        assert!(!verify(&token(unverified)).expect("valid").email_verified);
    }

    #[test]
    fn tampered_foreign_stale_or_replayed_tokens_are_refused() {
        let good = token(claims());
        // Tampered: the payload says someone else, the signature is the old one's.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut payload = claims();
        payload["email"] = json!("mallory@example.com");
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(matches!(
            verify(&parts.join(".")),
            Err(OidcError::Refused(_))
        ));

        let mut cases = Vec::new();
        for (field, value) in [
            ("aud", json!("another-client")),
            ("iss", json!("https://evil.example.com")),
            ("nonce", json!("someone-else's-nonce")),
            ("exp", json!(now() - 3600)),
        ] {
            let mut changed = claims();
            changed[field] = value;
            cases.push((field, token(changed)));
        }
        let mut no_nonce = claims();
        no_nonce.as_object_mut().expect("object").remove("nonce");
        cases.push(("no nonce", token(no_nonce)));
        for (what, token) in cases {
            assert!(
                matches!(verify(&token), Err(OidcError::Refused(_))),
                "{what} was accepted"
            );
        }

        // Signed with a shared secret (the client's, say) instead of the provider's key.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"client secret"),
        )
        .expect("sign");
        assert!(matches!(verify(&hs), Err(OidcError::Refused(_))));
        // Unsigned.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert!(matches!(verify(&none), Err(OidcError::Refused(_))));
    }

    #[test]
    fn pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
