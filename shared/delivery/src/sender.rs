//! Sending one request: the HTTP client and what came back.

use crate::guard::{GuardedResolver, RefusedAddress, check_literal};
use automations_core::delivery::execution::{RESPONSE_BODY_MAX, response_excerpt};
use automations_core::delivery::retry::parse_retry_after;
use automations_core::delivery::{Attempt, LastResponse, OutgoingRequest};
use automations_core::time::Clock;
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the product calls itself in `User-Agent`.
const USER_AGENT: &str = concat!("automations/", env!("CARGO_PKG_VERSION"));

/// The HTTP client of deliveries.
#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

/// The client could not be built (the TLS backend failed to start).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

/// One attempt's result: how it ended (for the retry policy) and what to record.
#[derive(Debug, Clone)]
pub struct Sent {
    /// How the attempt ended, for the retry policy.
    pub attempt: Attempt,
    /// What the execution records of it.
    pub response: LastResponse,
}

impl HttpSender {
    /// A client whose every attempt (connection and body included) ends after `timeout`, and
    /// which connects only to allowed addresses unless `allow_private`.
    pub fn new(timeout: Duration, allow_private: bool) -> Result<HttpSender, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect could point anywhere, past the address check: the answer is the 3xx.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect for us, to an address the guard never sees.
            .no_proxy()
            .dns_resolver(GuardedResolver { allow_private })
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(HttpSender { client, allow_private, timeout })
    }

    /// How long an attempt may take, connection and body included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POST `req`, reading at most the first 4 KiB of the answer.
    pub async fn send(&self, req: &OutgoingRequest, clock: &Arc<dyn Clock>) -> Sent {
        let started = Instant::now();
        let result = self.try_send(req, clock).await;
        let at = clock.now();
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok((status, retry_after, body, body_error)) => Sent {
                attempt: Attempt::Answered { status, retry_after },
                response: LastResponse { at, status: Some(status), body, error: body_error, duration_ms },
            },
            Err(attempt) => {
                let error = match &attempt {
                    Attempt::TimedOut => format!("no answer within {} ms", self.timeout.as_millis()),
                    Attempt::Network(e) | Attempt::Refused(e) => e.clone(),
                    Attempt::Answered { .. } => String::new(),
                };
                Sent {
                    attempt,
                    response: LastResponse { at, status: None, body: String::new(), error: Some(error), duration_ms },
                }
            }
        }
    }

    async fn try_send(
        &self,
        req: &OutgoingRequest,
        clock: &Arc<dyn Clock>,
    ) -> Result<(u16, Option<i64>, String, Option<String>), Attempt> {
        let url =
            reqwest::Url::parse(&req.url).map_err(|e| Attempt::Refused(format!("the URL does not parse: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Attempt::Refused(format!("the URL's scheme {:?} is not http or https", url.scheme())));
        }
        let host = url.host_str().ok_or_else(|| Attempt::Refused("the URL has no host".into()))?;
        check_literal(host, self.allow_private).map_err(|e| Attempt::Refused(e.to_string()))?;
        let mut builder = self.client.post(url);
        for (name, value) in &req.headers {
            let value = HeaderValue::from_str(value)
                .map_err(|_| Attempt::Refused(format!("header {name} holds characters HTTP does not allow")))?;
            builder = builder.header(HeaderName::from_static(name), value);
        }
        let mut resp = builder.body(req.body.clone()).send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, clock.now()));
        let mut body = Vec::new();
        let mut body_error = None;
        while body.len() <= RESPONSE_BODY_MAX {
            match resp.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                // The status is the answer; a body that breaks off or is slow only loses its end.
                Err(e) => {
                    body_error = Some(format!("reading the answer's body: {}", describe(&e)));
                    break;
                }
            }
        }
        Ok((status, retry_after, response_excerpt(&body), body_error))
    }
}

/// What a failed send means for the retry policy. Messages leave the URL out: it may be a
/// credential (a Slack webhook's URL is).
fn classify(e: reqwest::Error) -> Attempt {
    if let Some(refused) = find_source::<RefusedAddress>(&e) {
        return Attempt::Refused(refused.to_string());
    }
    if e.is_timeout() {
        return Attempt::TimedOut;
    }
    Attempt::Network(describe(&e))
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_request() {
        "the request failed".to_string()
    } else {
        "the connection failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn find_source<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}
