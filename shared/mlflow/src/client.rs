//! The HTTP client of one MLflow tracking server (REST API 2.0).

use automations_core::mlflow::tracking::{
    self, BadAnswer, EXPERIMENTS_PAGE, Experiment, HISTORY_PAGE, MlflowRun, Point, RUNS_PAGE,
};
use automations_core::model::integration::{MlflowTracking, TrackingAuth};
use automations_delivery::guard::{GuardedResolver, check_literal};
use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const USER_AGENT: &str = concat!("automations/", env!("CARGO_PKG_VERSION"));
/// Experiment ids per `runs/search` request.
const EXPERIMENTS_PER_SEARCH: usize = 100;
/// Pages followed at most per listing: a bound on one poll's cost even if a server keeps
/// answering with a next page.
const MAX_PAGES: usize = 1000;

/// Why a request to the tracking server failed. Messages never hold a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackingError {
    /// No answer: the connection failed or timed out.
    #[error("cannot reach the MLflow tracking server at {uri}: {reason}")]
    Unreachable {
        /// The tracking URI (without credentials).
        uri: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// 401 or 403: the credentials were refused.
    #[error(
        "the MLflow tracking server answered {status} to {endpoint}: the credentials (token, or username and password) were refused"
    )]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// The REST endpoint asked.
        endpoint: &'static str,
    },
    /// Any other status that is not a success.
    #[error("the MLflow tracking server answered {status} to {endpoint}{detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The REST endpoint asked.
        endpoint: &'static str,
        /// `: `, MLflow's error code and message, when it gave them (else empty).
        detail: String,
    },
    /// A success whose body is not what MLflow's REST API answers.
    #[error("{endpoint}: {error}")]
    BadAnswer {
        /// The REST endpoint asked.
        endpoint: &'static str,
        /// What is wrong with the body.
        error: BadAnswer,
    },
    /// The URI is not one this deployment connects to (a private address, a bad scheme).
    #[error("the MLflow tracking server at {uri} is refused: {reason}")]
    Refused {
        /// The tracking URI (without credentials).
        uri: String,
        /// Why it is refused.
        reason: String,
    },
}

impl TrackingError {
    /// Whether the server itself refused (401/403), as opposed to being down or broken.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, TrackingError::Unauthorized { .. })
    }
}

/// What went wrong with a request, with its causes ("connection refused"), without the URL
/// (reqwest's message would repeat it with its query).
fn reason(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    if timeout {
        out.push_str(" (timed out)");
    }
    out
}

/// A client of one tracking server, counting the requests it makes.
pub struct TrackingClient {
    http: reqwest::Client,
    uri: String,
    authorization: Option<String>,
    requests: AtomicU64,
}

impl TrackingClient {
    /// A client of `tracking`'s server whose every request ends after `timeout`. Unless
    /// `allow_private`, it connects to no loopback, private, link-local or metadata address.
    pub fn new(
        tracking: &MlflowTracking,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<TrackingClient, TrackingError> {
        let refused = |reason: String| TrackingError::Refused { uri: tracking.uri.clone(), reason };
        let host = reqwest::Url::parse(&tracking.uri)
            .map_err(|e| refused(format!("not a URL: {e}")))?
            .host_str()
            .map(str::to_string)
            .ok_or_else(|| refused("the URL has no host".into()))?;
        check_literal(&host, allow_private).map_err(|e| refused(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver { allow_private })
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| refused(format!("cannot build the HTTP client: {e}")))?;
        let authorization = match &tracking.auth {
            TrackingAuth::None => None,
            TrackingAuth::Token(t) => Some(format!("Bearer {}", t.expose())),
            TrackingAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    username.expose(),
                    password.expose()
                ))
            )),
        };
        Ok(TrackingClient { http, uri: tracking.uri.clone(), authorization, requests: AtomicU64::new(0) })
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn call(
        &self,
        endpoint: &'static str,
        query: Option<&[(&str, String)]>,
        body: Option<&Value>,
    ) -> Result<Value, TrackingError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut url = reqwest::Url::parse(&format!("{}/api/2.0/mlflow/{endpoint}", self.uri))
            .map_err(|e| TrackingError::Refused { uri: self.uri.clone(), reason: format!("not a URL: {e}") })?;
        if let Some(q) = query {
            url.query_pairs_mut().extend_pairs(q.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut req = match body {
            Some(b) => {
                self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(b.to_string())
            }
            None => self.http.get(url),
        };
        if let Some(a) = &self.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let unreachable = |e: reqwest::Error| TrackingError::Unreachable { uri: self.uri.clone(), reason: reason(e) };
        let res = req.send().await.map_err(unreachable)?;
        let status = res.status().as_u16();
        let text = res.text().await.map_err(unreachable)?;
        if status == 401 || status == 403 {
            return Err(TrackingError::Unauthorized { status, endpoint });
        }
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if !(200..300).contains(&status) {
            // Only MLflow's own error fields, never the raw body (which could be anything a
            // misconfigured URL answers with).
            let detail = parsed
                .as_ref()
                .and_then(|v| Some((v.get("error_code")?.as_str()?, v.get("message")?.as_str()?)))
                .map(|(code, msg)| format!(": {code}: {}", msg.chars().take(300).collect::<String>()))
                .unwrap_or_default();
            return Err(TrackingError::Status { status, endpoint, detail });
        }
        parsed.ok_or_else(|| TrackingError::BadAnswer { endpoint, error: BadAnswer("the body is not JSON".into()) })
    }

    /// Whether the server answers an authenticated request (at integration create).
    pub async fn check(&self) -> Result<(), TrackingError> {
        self.call("experiments/search", None, Some(&json!({"max_results": 1}))).await.map(drop)
    }

    /// Every active experiment.
    pub async fn experiments(&self) -> Result<Vec<Experiment>, TrackingError> {
        let endpoint = "experiments/search";
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({"max_results": EXPERIMENTS_PAGE, "view_type": "ACTIVE_ONLY"});
            if let Some(t) = &token {
                body["page_token"] = t.clone().into();
            }
            let v = self.call(endpoint, None, Some(&body)).await?;
            let (page, next) =
                tracking::parse_experiments(&v).map_err(|error| TrackingError::BadAnswer { endpoint, error })?;
            out.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    /// The active runs of `experiment_ids` that match `filter`.
    pub async fn search_runs(&self, experiment_ids: &[String], filter: &str) -> Result<Vec<MlflowRun>, TrackingError> {
        let endpoint = "runs/search";
        let mut out = Vec::new();
        for ids in experiment_ids.chunks(EXPERIMENTS_PER_SEARCH) {
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let mut body = json!({"experiment_ids": ids, "filter": filter, "run_view_type": "ACTIVE_ONLY",
                                      "max_results": RUNS_PAGE});
                if let Some(t) = &token {
                    body["page_token"] = t.clone().into();
                }
                let v = self.call(endpoint, None, Some(&body)).await?;
                let (page, next) =
                    tracking::parse_runs(&v).map_err(|error| TrackingError::BadAnswer { endpoint, error })?;
                out.extend(page);
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    /// The whole history of one metric of one run.
    pub async fn history(&self, run_id: &str, metric: &str) -> Result<Vec<Point>, TrackingError> {
        let endpoint = "metrics/get-history";
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q = vec![
                ("run_id", run_id.to_string()),
                ("metric_key", metric.to_string()),
                ("max_results", HISTORY_PAGE.to_string()),
            ];
            if let Some(t) = &token {
                q.push(("page_token", t.clone()));
            }
            let v = self.call(endpoint, Some(&q), None).await?;
            let (page, next) =
                tracking::parse_history(&v).map_err(|error| TrackingError::BadAnswer { endpoint, error })?;
            out.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }
}
