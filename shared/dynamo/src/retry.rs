//! Retrying with exponential backoff and full jitter: throttled, timed-out and unreachable calls,
//! and the keys or items a batch call left unprocessed.

use crate::api::DynamoError;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first pause's upper bound; each retry doubles it.
    pub base: Duration,
    /// No pause is longer than this.
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    /// 8 attempts, pauses of up to 25 ms, 50 ms, ... 1 s: about 3 s at worst, well inside a
    /// Lambda invocation, after the SDK's own retries of each attempt.
    fn default() -> Backoff {
        Backoff { base: Duration::from_millis(25), max: Duration::from_secs(1), attempts: 8 }
    }
}

impl Backoff {
    /// Backoff for tests: the same number of attempts, pauses of a millisecond or two.
    pub fn fast() -> Backoff {
        Backoff { base: Duration::from_millis(1), max: Duration::from_millis(4), attempts: 8 }
    }

    /// The pause before retry number `retry` (0 for the first retry): uniformly random up to
    /// `min(max, base * 2^retry)` ("full jitter"), so retrying clients spread out.
    pub fn delay(&self, retry: u32) -> Duration {
        let cap = self.base.saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX)).min(self.max);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
    }
}

/// A random number from the standard library's per-hasher random keys: enough for jitter and
/// for unique tokens, without a random-number crate.
pub(crate) fn random_u64() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Call `f` until it succeeds, fails with an error that is not retryable, or runs out of
/// attempts, pausing per `backoff` between attempts.
pub(crate) async fn retrying<T, F, Fut>(backoff: &Backoff, what: &str, mut f: F) -> Result<T, DynamoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DynamoError>>,
{
    let mut retry = 0;
    loop {
        match f().await {
            Err(e) if e.is_retryable() && retry + 1 < backoff.attempts => {
                tracing::warn!(call = what, retry, error = %e, "DynamoDB call failed; retrying");
                tokio::time::sleep(backoff.delay(retry)).await;
                retry += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let b = Backoff { base: Duration::from_millis(10), max: Duration::from_millis(100), attempts: 5 };
        for _ in 0..200 {
            assert!(b.delay(0) <= Duration::from_millis(10));
            assert!(b.delay(2) <= Duration::from_millis(40));
            assert!(b.delay(30) <= Duration::from_millis(100));
        }
        // Full jitter: not always the cap.
        assert!((0..200).any(|_| b.delay(3) < Duration::from_millis(40)));
    }
}
