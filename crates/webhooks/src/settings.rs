//! How webhooks are delivered: the retry schedule, timeouts, retention, and local development's
//! loopback allowance; the command line fills [`WebhookSettings`] from flags.

use std::time::Duration;

/// The schedule of retries after a failed attempt: the delay before each.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
/// A 2xx must arrive within this long.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// An endpoint whose every attempt has failed for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 60 * 60);
/// Deliveries that ended (delivered or failed) are kept this long, then deleted.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How long a lease outlives its attempt's timeout.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// How webhooks are delivered; the command line fills it from flags.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Local development: endpoints may be loopback addresses, over `http` too.
    pub allow_loopback: bool,
    pub attempt_timeout: Duration,
    /// The delay before each retry; after the last, the delivery fails.
    pub retry_schedule: RetrySchedule,
}

/// The delays before each retry of a failed delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap_or_default(),
        }
    }
}

/// Parses `5s,5m,30m,2h`: each a whole number of seconds, minutes or hours.
pub fn parse_schedule(text: &str) -> Result<RetrySchedule, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (number, unit) = part.split_at(part.len().saturating_sub(1));
            let seconds = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => return Err(format!("{part:?}: give each delay as a number with s, m or h (\"30s\", \"5m\", \"2h\")")),
            };
            number
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| Duration::from_secs(n * seconds))
                .ok_or_else(|| format!("{part:?}: a delay is a whole number above 0 with s, m or h"))
        })
        .collect::<Result<_, _>>()
        .map(RetrySchedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("5s, 5m,2h"),
            Ok(RetrySchedule(vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ]))
        );
        for bad in ["", "5", "0s", "5d", "-1s", "s"] {
            assert!(parse_schedule(bad).is_err(), "{bad:?}");
        }
        assert_eq!(WebhookSettings::default().retry_schedule.0.len(), 7);
    }
}
