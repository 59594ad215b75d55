//! Where webhooks may go: public unicast addresses only (checked when an endpoint is saved, and
//! again by the resolver at every connection), and URLs as the logs may show them.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Why an address may not receive webhooks, if it may not: anything that is not a public
/// unicast address (private, loopback, link-local — where cloud metadata services answer —,
/// shared, multicast, reserved, documentation), checked inside IPv4-mapped IPv6 too.
/// `allow_loopback` lets loopback through, for local development.
pub fn forbidden_address(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return (!allow_loopback).then_some("a loopback address");
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_private() {
                Some("a private address")
            } else if v4.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a shared (carrier-grade NAT) address")
            } else if v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
            {
                Some("a reserved address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // An IPv4 address carried inside: 6to4 (2002:AABB:CCDD::/48) and the well-known
            // NAT64 prefix (64:ff9b::/96) reach it, so it must be public itself.
            let embedded = match segments {
                [0x2002, high, low, ..] => {
                    Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)))
                }
                [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
                    Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)))
                }
                _ => None,
            };
            if let Some(v4) = embedded {
                return forbidden_address(IpAddr::V4(v4), false)
                    .map(|_| "an IPv6 address that carries a non-public IPv4 address");
            }
            if v6.is_unique_local() {
                Some("a private address")
            } else if v6.is_unicast_link_local() || segments[0] & 0xffc0 == 0xfec0 {
                // fe80::/10, and the deprecated site-local fec0::/10.
                Some("a link-local address")
            } else if v6.is_unspecified()
                || v6.is_multicast()
                // ::/96 (IPv4-compatible, deprecated) and ::ffff:0:0/96 (IPv4-translated):
                // both name an IPv4 host some stacks still reach.
                || segments[..6] == [0, 0, 0, 0, 0, 0]
                || segments[..6] == [0, 0, 0, 0, 0xffff, 0]
                // 100::/64: discard-only.
                || segments[..4] == [0x100, 0, 0, 0]
                // 2001::/23: IETF protocol assignments, Teredo (2001::/32) among them;
                // 2001:db8::/32: documentation.
                || segments[0] == 0x2001 && (segments[1] < 0x200 || segments[1] == 0xdb8)
            {
                Some("a reserved address")
            } else if segments[..2] == [0x64, 0xff9b] {
                // 64:ff9b:1::/48, local-use NAT64: translates to whatever the network chose.
                Some("a NAT64 address")
            } else {
                None
            }
        }
    }
}

/// Resolves names for deliveries and refuses every name with a forbidden address among its
/// answers, at connection time: a name that resolved to a public address when the endpoint
/// was saved cannot be pointed at a private one later (DNS rebinding).
#[derive(Debug)]
pub(crate) struct PublicOnlyResolver {
    pub(crate) allow_loopback: bool,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(reason) = addresses
                .iter()
                .find_map(|a| forbidden_address(a.ip(), allow_loopback))
            {
                return Err(format!("{host} resolves to {reason}").into());
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// The URL's host when it is an IP address (`[…]` for IPv6).
pub(crate) fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// Checks an endpoint URL before it is saved: `https` (or `http` to loopback when
/// `allow_loopback`), a host, and no forbidden address among what the host resolves to now.
/// A name that does not resolve yet is accepted; every delivery checks again. Answers the URL
/// as it is stored and used: normalised by the URL parser.
pub async fn check_endpoint_url(url: &str, allow_loopback: bool) -> Result<String, String> {
    const MAX_URL_LEN: usize = 2048;
    if url.len() > MAX_URL_LEN {
        return Err(format!("url must be at most {MAX_URL_LEN} characters"));
    }
    // The URL parser drops tabs and line breaks without a word; refuse them (and every other
    // control character) instead, so what is stored is what was meant.
    if url.chars().any(char::is_control) {
        return Err("url must not contain control characters (line breaks, tabs, escapes)".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url is not a valid URL: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("url must have a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // They would be stored and shown in clear; the signature is how a receiver knows
        // the sender.
        return Err(
            "url must not contain a user name or password; receivers verify the signature instead"
                .into(),
        );
    }
    let literal = literal_address(&parsed);
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match (literal, parsed.host_str()) {
        (Some(ip), _) => vec![ip],
        (None, Some(name)) => {
            let lookup = tokio::net::lookup_host((name.trim_end_matches('.'), port));
            match tokio::time::timeout(Duration::from_secs(3), lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
        (None, None) => Vec::new(),
    };
    let loopback_only = !addresses.is_empty() && addresses.iter().all(IpAddr::is_loopback);
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_only => {}
        "http" if allow_loopback => {
            return Err("url must use https (http is allowed for loopback addresses only)".into());
        }
        "http" if loopback_only => {
            return Err(
                "url must use https; for a receiver on this machine during development, \
                 start the server with --webhooks-allow-loopback"
                    .into(),
            );
        }
        _ => return Err("url must use https".into()),
    }
    if let Some(reason) = addresses
        .iter()
        .find_map(|ip| forbidden_address(*ip, allow_loopback))
    {
        return Err(format!(
            "url must point at a public address; {} is {reason}",
            parsed.host_str().unwrap_or_default()
        ));
    }
    Ok(parsed.to_string())
}

/// An endpoint URL as the logs show it: without its query, where receivers put tokens.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.query().is_some() {
                parsed.set_query(Some("redacted"));
            }
            parsed.set_fragment(None);
            parsed.to_string()
        }
        Err(_) => "(invalid url)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_receive() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "::7f00:1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "100::1",
        ] {
            let ip: IpAddr = private.parse().expect("address");
            assert!(forbidden_address(ip, false).is_some(), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "2002:5db8:d822::1",
            "64:ff9b::5db8:d822",
        ] {
            let ip: IpAddr = public.parse().expect("address");
            assert_eq!(forbidden_address(ip, false), None, "{public}");
        }
        let loopback: IpAddr = "127.0.0.1".parse().expect("address");
        assert_eq!(forbidden_address(loopback, true), None);
        let private: IpAddr = "10.0.0.1".parse().expect("address");
        assert!(forbidden_address(private, true).is_some());
    }

    #[tokio::test]
    async fn endpoint_urls_are_checked() {
        for (url, allow_loopback) in [
            ("http://example.com/hook", false),
            ("https://10.0.0.5/hook", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://127.0.0.1:8443/", false),
            ("https://localhost/", false),
            ("http://127.0.0.1:9000/", false),
            ("http://10.0.0.5/", true),
            ("https://[::1]/", false),
            ("https://user:secret@93.184.216.34/hook", false),
            ("ftp://example.com/", false),
            ("not a url", false),
        ] {
            assert!(
                check_endpoint_url(url, allow_loopback).await.is_err(),
                "{url} (loopback allowed: {allow_loopback})"
            );
        }
        for (url, allow_loopback) in [
            ("https://93.184.216.34/hook", false),
            ("http://127.0.0.1:9000/hook", true),
            ("https://127.0.0.1:9000/hook", true),
        ] {
            assert_eq!(
                check_endpoint_url(url, allow_loopback).await.as_deref(),
                Ok(url),
                "{url}"
            );
        }
        for forged in [
            "https://93.184.216.34/hook\nINFO forged line",
            "https://93.184.216.34/\u{1b}[31mred",
            "https://93.184.216.34/a\tb",
        ] {
            assert!(
                check_endpoint_url(forged, false)
                    .await
                    .is_err_and(|e| e.contains("control characters")),
                "{forged:?}"
            );
        }
        assert_eq!(
            check_endpoint_url("https://93.184.216.34:443/a b?x=1", false).await,
            Ok("https://93.184.216.34/a%20b?x=1".to_owned())
        );
        let plain = check_endpoint_url("http://127.0.0.1:9000/", false).await;
        assert!(
            plain
                .as_ref()
                .is_err_and(|e| e.contains("--webhooks-allow-loopback")),
            "{plain:?}"
        );
    }

    #[test]
    fn logged_urls_leave_out_the_query() {
        assert_eq!(
            redacted_url("https://example.com/hook?token=s3cret#frag"),
            "https://example.com/hook?redacted"
        );
        assert_eq!(
            redacted_url("https://example.com/hook"),
            "https://example.com/hook"
        );
    }
}
