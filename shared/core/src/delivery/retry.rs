//! What an attempt's outcome means: delivered, try again at some time, or give up.
//!
//! 2xx is delivered. Network errors, timeouts, 408, 429 and 5xx are retried with exponential
//! backoff and full jitter (a uniform delay between zero and `base * 2^(attempt - 1)`, capped),
//! never sooner than a `Retry-After` asks, until `give_up_after` from the fire: the last attempt
//! is made at that deadline, and a failure then is final. 410 Gone fails at once and disables the
//! integration; every other status fails at once. The jitter comes from a seed the caller passes
//! in (the adapter hashes the fire id with its own randomness), so this module stays pure.

use crate::time::{HOUR, Millis, SECOND, Timestamp};

/// The retry schedule. [`RetryPolicy::default`] is the product's (SPEC section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long one attempt may take, connecting included.
    pub timeout: Millis,
    /// The backoff ceiling of the first retry; it doubles with every attempt.
    pub base: Millis,
    /// The largest backoff ceiling.
    pub cap: Millis,
    /// The smallest delay between two attempts.
    pub min_delay: Millis,
    /// How long after the fire the last attempt may be made.
    pub give_up_after: Millis,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { timeout: 10 * SECOND, base: 10 * SECOND, cap: HOUR, min_delay: SECOND, give_up_after: 24 * HOUR }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered. `retry_after` is its `Retry-After`, already read ([`parse_retry_after`]).
    Answered {
        /// The HTTP status code.
        status: u16,
        /// The delay the receiver asked for; `None` when it sent no (readable) `Retry-After`.
        retry_after: Option<Millis>,
    },
    /// No answer in time.
    TimedOut,
    /// Could not connect, or the connection broke.
    Network(String),
    /// Not sent: the request could never succeed as configured (an address that is refused,
    /// a URL that does not parse, a secret that cannot sign). Retrying would not help.
    Refused(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver took it (a 2xx answer): the execution is finished.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Give up. `disable_integration`: the receiver said 410 Gone.
    Failed {
        /// Why, for the execution's last response.
        reason: String,
        /// Whether to disable the integration (the receiver answered 410 Gone).
        disable_integration: bool,
    },
}

impl RetryPolicy {
    /// The verdict on attempt number `attempt` (1 for the first) of a fire recorded at `fired_at`,
    /// which ended at `now`.
    pub fn decide(&self, outcome: &Attempt, attempt: u32, fired_at: Timestamp, now: Timestamp, seed: u64) -> Verdict {
        let retry_after = match outcome {
            Attempt::Answered { status, .. } if (200..300).contains(status) => return Verdict::Delivered,
            Attempt::Answered { status: 410, .. } => {
                return Verdict::Failed {
                    reason: "the receiver answered 410 Gone: the integration is disabled".into(),
                    disable_integration: true,
                };
            }
            Attempt::Answered { status, retry_after } if retryable(*status) => *retry_after,
            Attempt::Answered { status, .. } => {
                return Verdict::Failed {
                    reason: format!("the receiver answered {status}"),
                    disable_integration: false,
                };
            }
            Attempt::Refused(why) => return Verdict::Failed { reason: why.clone(), disable_integration: false },
            Attempt::TimedOut | Attempt::Network(_) => None,
        };
        let deadline = fired_at.plus(self.give_up_after);
        let why = match outcome {
            Attempt::Answered { status, .. } => format!("the receiver answered {status}"),
            Attempt::TimedOut => format!("no answer within {} ms", self.timeout),
            Attempt::Network(e) => e.clone(),
            Attempt::Refused(_) => unreachable!("refusals returned above"),
        };
        if now >= deadline {
            return Verdict::Failed {
                reason: format!("{why}; gave up after {attempt} attempts over {} hours", self.give_up_after / HOUR),
                disable_integration: false,
            };
        }
        let delay = self.backoff(attempt, seed).max(retry_after.unwrap_or(0));
        let at = now.plus(delay);
        if retry_after.is_some_and(|r| now.plus(r) > deadline) {
            return Verdict::Failed {
                reason: format!("{why}; its Retry-After is past the {}-hour retry window", self.give_up_after / HOUR),
                disable_integration: false,
            };
        }
        Verdict::RetryAt(at.min(deadline))
    }

    /// The jittered delay after attempt number `attempt`.
    pub fn backoff(&self, attempt: u32, seed: u64) -> Millis {
        let exp = attempt.saturating_sub(1).min(40);
        let ceiling = self.base.saturating_mul(1i64 << exp).min(self.cap).max(self.min_delay);
        let span = (ceiling - self.min_delay).max(0) as u64;
        let r = splitmix64(seed ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.min_delay + (r % (span + 1)) as Millis
    }
}

/// Statuses worth retrying: 408 Request Timeout, 429 Too Many Requests, every 5xx.
pub fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// Read a `Retry-After` value: whole seconds, or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`),
/// as a delay from `now` (a date in the past is no delay). `None` when it reads as neither.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Millis> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<i64>().ok().map(|s| s.saturating_mul(SECOND));
    }
    let at = parse_http_date(v)?;
    Some(at.since(now).max(0))
}

/// An IMF-fixdate (RFC 9110 section 5.6.7), the only date form senders may generate.
fn parse_http_date(s: &str) -> Option<Timestamp> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let (day, month, year, time, zone) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if zone != "GMT" || parts.next().is_some() || day.len() != 2 || year.len() != 4 || time.len() != 8 {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = MONTHS.iter().position(|x| *x == month)? + 1;
    Timestamp::parse_rfc3339(&format!("{year}-{m:02}-{day}T{time}Z")).ok()
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MINUTE;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    fn answered(status: u16) -> Attempt {
        Attempt::Answered { status, retry_after: None }
    }

    #[test]
    fn classifies_statuses() {
        let p = RetryPolicy::default();
        assert_eq!(p.decide(&answered(204), 1, T0, T0, 1), Verdict::Delivered);
        for s in [408, 429, 500, 502, 503, 599] {
            assert!(matches!(p.decide(&answered(s), 1, T0, T0, 1), Verdict::RetryAt(_)), "{s}");
        }
        for s in [301, 400, 401, 403, 404, 422] {
            assert!(
                matches!(p.decide(&answered(s), 1, T0, T0, 1), Verdict::Failed { disable_integration: false, .. }),
                "{s}"
            );
        }
        assert!(matches!(p.decide(&answered(410), 1, T0, T0, 1), Verdict::Failed { disable_integration: true, .. }));
        assert!(matches!(p.decide(&Attempt::TimedOut, 1, T0, T0, 1), Verdict::RetryAt(_)));
        assert!(matches!(p.decide(&Attempt::Network("reset".into()), 1, T0, T0, 1), Verdict::RetryAt(_)));
        assert!(matches!(p.decide(&Attempt::Refused("loopback".into()), 1, T0, T0, 1), Verdict::Failed { .. }));
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_stays_in_bounds() {
        let p = RetryPolicy::default();
        for attempt in 1..30 {
            let ceiling = (p.base << (attempt - 1).min(40)).min(p.cap);
            let delays: Vec<Millis> = (0..200).map(|seed| p.backoff(attempt, seed)).collect();
            assert!(delays.iter().all(|d| (p.min_delay..=ceiling).contains(d)), "attempt {attempt}");
            // Full jitter: the delays spread over the range rather than cluster at the ceiling.
            let distinct: std::collections::HashSet<_> = delays.iter().collect();
            assert!(distinct.len() > 100, "attempt {attempt}: {} distinct", distinct.len());
            if attempt >= 4 {
                let mean = delays.iter().sum::<Millis>() as f64 / delays.len() as f64;
                assert!((mean - ceiling as f64 / 2.0).abs() < ceiling as f64 * 0.15, "attempt {attempt}: mean {mean}");
            }
        }
        assert_eq!(p.backoff(3, 42), p.backoff(3, 42), "the same seed gives the same delay");
    }

    #[test]
    fn honours_retry_after() {
        let p = RetryPolicy::default();
        let a = Attempt::Answered { status: 429, retry_after: Some(30 * MINUTE) };
        let Verdict::RetryAt(at) = p.decide(&a, 1, T0, T0, 7) else { panic!() };
        assert!(at >= T0.plus(30 * MINUTE));
        let a = Attempt::Answered { status: 503, retry_after: Some(25 * HOUR) };
        assert!(matches!(p.decide(&a, 1, T0, T0, 7), Verdict::Failed { .. }));
    }

    #[test]
    fn gives_up_at_the_deadline_after_a_last_attempt_there() {
        let p = RetryPolicy::default();
        let late = T0.plus(24 * HOUR - 5 * SECOND);
        let Verdict::RetryAt(at) = p.decide(&answered(500), 30, T0, late, 3) else { panic!() };
        assert_eq!(at, T0.plus(24 * HOUR), "the last attempt is made at the deadline");
        let Verdict::Failed { reason, .. } = p.decide(&answered(500), 31, T0, at, 3) else { panic!() };
        assert!(reason.contains("gave up after 31 attempts over 24 hours"), "{reason}");
    }

    #[test]
    fn reads_retry_after_values() {
        let now = Timestamp::parse_rfc3339("2015-10-21T07:27:00Z").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(120 * SECOND));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(MINUTE));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(0));
        for bad in ["", "-5", "1.5", "soon", "Wed, 21 Oct 2015 07:28:00 PST", "Wed, 21 Foo 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
