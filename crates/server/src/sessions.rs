//! People's sessions as the server knows them: the cookies that carry them, their lifetimes,
//! the cross-site request forgery check, and the per-person sign-in lockout.
//!
//! A session's cookie holds a random secret; the database holds only its SHA-256, so a copy
//! of the database signs nobody in. Every request looks its session up in the database (one
//! indexed read, no cache): a session ended or a person removed on any replica stops working
//! on every replica with the next request.
//!
//! Forgery: the session cookie is `SameSite=Strict`, so browsers do not send it with requests
//! that other sites start; and every request that changes something must also carry the
//! `X-CSRF-Token` header with the token the `switchboard_csrf` cookie holds — a value derived
//! from the session's secret, which a page of another origin can neither read nor set as a
//! header — and, when the browser sends `Origin`, come from this server's own origin.

use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;
use switchboard_domain::{SecretDigest, Timestamp};

/// The cookie that carries the session's secret (HttpOnly: scripts cannot read it).
pub const SESSION_COOKIE: &str = "switchboard_session";
/// The cookie the console reads its forgery token from, to send back as [`CSRF_HEADER`].
pub const CSRF_COOKIE: &str = "switchboard_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long sessions last, unless configured.
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute: Duration,
}

pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(12 * 60 * 60);
pub const DEFAULT_SESSION_ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle: DEFAULT_SESSION_IDLE,
            absolute: DEFAULT_SESSION_ABSOLUTE,
        }
    }
}

/// How stale a session's `last_seen_at` may be: one write per session per minute at most.
pub const LAST_SEEN_RESOLUTION: Duration = Duration::from_secs(60);

impl SessionSettings {
    /// Whether a session signed in at `created`, last used at `last_seen` and ending at
    /// `expires_at` is still good at `now`.
    pub fn is_live(&self, last_seen: Timestamp, expires_at: Timestamp, now: Timestamp) -> bool {
        now < expires_at && now.as_millis() - last_seen.as_millis() < millis(self.idle)
    }
}

pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The forgery token of the session whose secret is `secret`: derived, not stored, so every
/// replica knows it.
pub fn csrf_token(secret: &str) -> String {
    let digest = Sha256::digest(format!("switchboard csrf token\n{secret}").as_bytes());
    hex_lower(&digest[..16])
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a request made with a session was refused as a possible forgery.
#[derive(Debug, PartialEq, Eq)]
pub enum Forgery {
    /// `Origin` names another site.
    ForeignOrigin,
    /// No `X-CSRF-Token`, or not this session's.
    MissingToken,
}

impl Forgery {
    /// The 403 that refuses it, saying what was missing.
    pub fn refusal(self) -> crate::ApiError {
        crate::ApiError::ForbiddenBecause(match self {
            Forgery::ForeignOrigin => "This request comes from another site (its Origin is not this server's); a session's changes must come from the console.".into(),
            Forgery::MissingToken => format!(
                "A request made with a session that changes something must carry the {CSRF_HEADER} header with the value of the {CSRF_COOKIE} cookie."
            ),
        })
    }
}

/// Requests that change nothing need no check: GET, HEAD, OPTIONS.
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `Origin`, when sent, names this server (by the `Host` it was asked at, or the
/// configured public URL).
pub fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let public_host = public_url.and_then(|url| {
        url.strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .map(|rest| rest.trim_end_matches('/'))
    });
    origin_host.is_some_and(|o| Some(o) == host || Some(o) == public_host)
}

/// The forgery check of a request that changes something, made with the session whose
/// secret is `secret`.
pub fn check_forgery(
    headers: &HeaderMap,
    secret: &str,
    public_url: Option<&str>,
) -> Result<(), Forgery> {
    if !same_origin(headers, public_url) {
        return Err(Forgery::ForeignOrigin);
    }
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if same_secret(sent, &csrf_token(secret)) {
        Ok(())
    } else {
        Err(Forgery::MissingToken)
    }
}

/// Whether cookies must be `Secure`: the request reached us over https (directly behind a
/// proxy that says so) or the public URL is https.
pub fn over_https(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    public_url.is_some_and(|url| url.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Where this server's pages are, for links and redirects: the public URL, else the address
/// the request was made to.
pub fn base_url(headers: &HeaderMap, public_url: Option<&str>) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if over_https(headers, None) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The `Set-Cookie` headers that start a session: its secret (HttpOnly) and its forgery
/// token (readable by the console's script), both for the whole site, ending with the session.
pub fn start_cookies(secret: &str, max_age: Duration, secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    let age = max_age.as_secs();
    [
        format!(
            "{SESSION_COOKIE}={secret}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}"
        ),
        format!(
            "{CSRF_COOKIE}={}; Path=/; Max-Age={age}; SameSite=Strict{secure}",
            csrf_token(secret)
        ),
    ]
    .map(|cookie| HeaderValue::from_str(&cookie).expect("cookie is visible ASCII"))
}

/// The `Set-Cookie` headers that make the browser forget the session.
pub fn end_cookies() -> [HeaderValue; 2] {
    [SESSION_COOKIE, CSRF_COOKIE].map(|name| {
        HeaderValue::from_str(&format!(
            "{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        ))
        .expect("cookie is visible ASCII")
    })
}

/// Puts `cookies` on a response's headers.
pub fn set_cookies(headers: &mut HeaderMap, cookies: [HeaderValue; 2]) {
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
}

/// Whether two secrets are equal, in constant time (timing says nothing of how much of a
/// guess matched).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The digest a session's secret is stored as.
pub fn session_digest(secret: &str) -> SecretDigest {
    SecretDigest::of(secret)
}

/// Wrong passwords a person may enter in a row before sign-in is refused for a while.
pub const FREE_FAILED_SIGN_INS: u32 = 5;

/// After the `failed`th wrong password in a row, how long sign-in is refused: nothing for
/// the first [`FREE_FAILED_SIGN_INS`], then a minute, doubling to at most 15 minutes. Kept
/// in the database, so it holds across replicas.
pub fn sign_in_lockout(failed: u32) -> Option<Duration> {
    let over = failed.checked_sub(FREE_FAILED_SIGN_INS)?;
    Some(Duration::from_secs(60 << over.min(4)).min(Duration::from_secs(15 * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_grows_and_is_capped() {
        assert_eq!(sign_in_lockout(4), None);
        assert_eq!(sign_in_lockout(5), Some(Duration::from_secs(60)));
        assert_eq!(sign_in_lockout(6), Some(Duration::from_secs(120)));
        assert_eq!(sign_in_lockout(40), Some(Duration::from_secs(900)));
    }

    #[test]
    fn forgery_needs_the_token_and_the_origin() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(
            check_forgery(&headers, "secret", None),
            Err(Forgery::MissingToken)
        );
        headers.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_token("secret")).expect("ASCII"),
        );
        assert_eq!(check_forgery(&headers, "secret", None), Ok(()));
        assert_eq!(
            check_forgery(&headers, "other secret", None),
            Err(Forgery::MissingToken)
        );
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert_eq!(check_forgery(&headers, "secret", None), Ok(()));
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert_eq!(
            check_forgery(&headers, "secret", None),
            Err(Forgery::ForeignOrigin)
        );
        headers.insert(ORIGIN, HeaderValue::from_static("https://sb.example.com"));
        assert_eq!(
            check_forgery(&headers, "secret", Some("https://sb.example.com/")),
            Ok(())
        );
    }

    #[test]
    fn cookies_are_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; switchboard_session=abc; switchboard_csrf=def"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("def"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
