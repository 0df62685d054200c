//! Integrations: where actions deliver (a webhook endpoint, a Slack incoming webhook), with the
//! credentials to do so.
//!
//! Credentials are [`Secret`]s: write-only. They print as `***`, have no `Serialize`, and leave
//! the process only through [`Secret::expose`], which the delivery code calls when it builds a
//! request and [`Integration::to_stored_json`] calls when a store saves the integration. Every
//! response goes through [`Integration::to_public_json`], which says *whether* a secret is set
//! (`has_secret: true`) and never what it is.
//!
//! Adding a kind (issue 6 adds MLflow) means: a variant of [`IntegrationKind`], its arm in
//! [`IntegrationKind::type_name`], `parse_kind`, the view ([`Integration::view`]) and
//! `IntegrationKind::stored_fields`, all in this file.

use super::reader::{ObjReader, one_of};
use crate::error::{Errors, Invalid};
use crate::id::{EntityId, IntegrationName};
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::fmt;

mod view;
pub use view::IntegrationView;

/// Longest integration name, as for automations.
pub const MAX_INTEGRATION_NAME_LEN: usize = 128;
/// Longest URL, access token, secret or channel name accepted.
pub const MAX_FIELD_LEN: usize = 2048;

/// A credential: an access token, a signing secret, a Slack incoming-webhook URL.
///
/// `Debug` and `Display` print `***`; there is deliberately no `Serialize`. The only way to the
/// value is [`Secret::expose`], so a secret cannot reach a response, a log line or an error
/// message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A credential holding `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's value. Call it only to use the credential (sign, authenticate, send) or to
    /// store it; never to show it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What an integration is, with its target and credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum IntegrationKind {
    /// An HTTP endpoint that receives POSTs. `access_token` is sent as `Authorization: Bearer`;
    /// `secret` signs each delivery (Standard Webhooks and `X-Wandb-Signature`).
    Webhook {
        /// The endpoint POSTed to.
        url: String,
        /// Sent as `Authorization: Bearer`; `None`: no such header.
        access_token: Option<Secret>,
        /// Signs each delivery; `None`: deliveries are not signed.
        secret: Option<Secret>,
    },
    /// A Slack incoming webhook. Its URL is the credential (anyone holding it can post), so it is
    /// a [`Secret`]; `channel` is the channel's name, for display.
    Slack {
        /// The incoming-webhook URL: the credential.
        url: Secret,
        /// The channel's name, for display.
        channel: String,
    },
    /// An MLflow tracking server as a source of events. Its model-registry webhooks (when
    /// `registry` is set) are POSTed to `/v1/mlflow/{entity}/{name}/events`, signed with
    /// `secret` (the MLflow webhook's secret), and land in `registry` of the integration's
    /// entity (see [`crate::mlflow`]). With `tracking` its runs are polled
    /// ([`crate::mlflow::tracking`]). At least one of the two is set.
    Mlflow {
        /// The MLflow webhook's secret and the registry its events land in; `None`: no registry webhooks.
        registry: Option<(Secret, String)>,
        /// Where and how to poll its runs; `None`: runs are not polled.
        tracking: Option<MlflowTracking>,
    },
}

/// The tracking side of an `mlflow` integration: where to poll, as whom, what.
#[derive(Debug, Clone, PartialEq)]
pub struct MlflowTracking {
    /// The tracking server's base URL (`http://host:5000`), without a trailing `/`.
    pub uri: String,
    /// How the poller authenticates: not at all, with a token, or with a user name and password.
    pub auth: TrackingAuth,
    /// Experiment names to poll; `None`: every active experiment.
    pub experiments: Option<Vec<String>>,
    /// Seconds between two polls (at least [`MIN_POLL_SECONDS`]).
    pub poll_seconds: u32,
}

/// How the poller authenticates to the tracking server.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackingAuth {
    /// No authentication.
    None,
    /// `Authorization: Bearer TOKEN` (`MLFLOW_TRACKING_TOKEN`).
    Token(Secret),
    /// HTTP basic (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`); both write-only.
    Basic {
        /// The user name.
        username: Secret,
        /// The password.
        password: Secret,
    },
}

impl TrackingAuth {
    fn name(&self) -> &'static str {
        match self {
            TrackingAuth::None => "none",
            TrackingAuth::Token(_) => "token",
            TrackingAuth::Basic { .. } => "basic",
        }
    }
}

/// The poll interval of a tracking integration that names none.
pub const DEFAULT_POLL_SECONDS: u32 = 15;
/// The shortest poll interval accepted.
pub const MIN_POLL_SECONDS: u32 = 5;
/// Most experiment names one integration may list.
pub const MAX_EXPERIMENTS: usize = 100;

impl IntegrationKind {
    /// The `type` of the integration document: `webhook` or `slack`.
    pub fn type_name(&self) -> &'static str {
        match self {
            IntegrationKind::Webhook { .. } => "webhook",
            IntegrationKind::Slack { .. } => "slack",
            IntegrationKind::Mlflow { .. } => "mlflow",
        }
    }

    /// The kind's fields as the create document has them, credentials included (for storage).
    fn stored_fields(&self, out: &mut Map<String, Value>) {
        match self {
            IntegrationKind::Webhook { url, access_token, secret } => {
                out.insert("url".into(), url.clone().into());
                if let Some(t) = access_token {
                    out.insert("access_token".into(), t.expose().into());
                }
                if let Some(s) = secret {
                    out.insert("secret".into(), s.expose().into());
                }
            }
            IntegrationKind::Slack { url, channel } => {
                out.insert("url".into(), url.expose().into());
                out.insert("channel".into(), channel.clone().into());
            }
            IntegrationKind::Mlflow { registry, tracking } => {
                if let Some((secret, registry)) = registry {
                    out.insert("secret".into(), secret.expose().into());
                    out.insert("registry".into(), registry.clone().into());
                }
                if let Some(t) = tracking {
                    out.insert("tracking_uri".into(), t.uri.clone().into());
                    match &t.auth {
                        TrackingAuth::None => {}
                        TrackingAuth::Token(token) => {
                            out.insert("token".into(), token.expose().into());
                        }
                        TrackingAuth::Basic { username, password } => {
                            out.insert("username".into(), username.expose().into());
                            out.insert("password".into(), password.expose().into());
                        }
                    }
                    if let Some(e) = &t.experiments {
                        out.insert("experiments".into(), e.iter().cloned().collect());
                    }
                    out.insert("poll_seconds".into(), t.poll_seconds.into());
                }
            }
        }
    }
}

/// The integration types, as the create document's `type` names them.
pub const INTEGRATION_TYPES: [&str; 3] = ["webhook", "slack", "mlflow"];

/// A validated integration of one entity. Automations refer to it by `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    /// The integration's id, given when it was created.
    pub id: String,
    /// The entity it belongs to (from the API key that created it).
    pub entity: EntityId,
    /// Unique within the entity.
    pub name: IntegrationName,
    /// Where it delivers (or, for MLflow, where events come from), with its credentials.
    pub kind: IntegrationKind,
    /// Why deliveries to it stopped (e.g. the endpoint answered 410 Gone); `None` when active.
    pub disabled: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Integration {
    /// Validate a create document of entity `entity` (which comes from the API key, not the
    /// body). Every problem is reported with the path of its field; messages never quote a
    /// credential.
    ///
    /// Webhook: `{"name", "type": "webhook", "url", "access_token"?, "secret"?}`.
    /// Slack: `{"name", "type": "slack", "url", "channel"}`.
    /// MLflow: `{"name", "type": "mlflow", "secret"?, "registry"?, "tracking_uri"?, "token"?,
    /// "username"?, "password"?, "experiments"?, "poll_seconds"?}`: `secret` and `registry`
    /// for registry webhooks, `tracking_uri` (and the rest) for polling runs; one or both.
    pub fn from_create(
        id: impl Into<String>,
        entity: impl Into<EntityId>,
        doc: &Value,
        created_at: Timestamp,
    ) -> Result<Integration, Invalid> {
        let mut errors = Errors::default();
        let Some(mut r) = ObjReader::new(doc, "", &mut errors) else {
            return Err(errors.failed());
        };
        let name = r.str("name", &mut errors).map(str::to_string);
        if let Some(n) = &name {
            check_name(n, "name", &mut errors);
        }
        let kind = parse_kind(&mut r, &mut errors);
        r.deny_unknown(&mut errors);
        match (name, kind) {
            (Some(name), Some(kind)) if errors.is_empty() => Ok(Integration {
                id: id.into(),
                entity: entity.into(),
                name: name.into(),
                kind,
                disabled: None,
                created_at,
            }),
            _ => Err(errors.failed()),
        }
    }

    /// The integration as users see it: `id`, `name`, `type`, `entity`, the kind's public fields
    /// (`url` and `has_access_token`/`has_secret` for a webhook; `channel` and `has_url` for
    /// Slack; `registry` and `has_secret` for MLflow), `disabled` (a reason, or null) and `created_at`. Never a credential.
    pub fn to_public_json(&self) -> Value {
        // A view of strings, bools and numbers always serializes.
        serde_json::to_value(self.view()).unwrap_or(Value::Null)
    }

    /// The integration as the API shows it: whether each credential is set, never the credential.
    pub fn view(&self) -> IntegrationView<'_> {
        IntegrationView::of(self)
    }

    /// The create document with the credentials in it, for a store to save. Reading it back with
    /// [`Integration::from_stored`] gives the same integration. Never send this to a user.
    pub fn to_stored_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), self.name.clone().into());
        o.insert("type".into(), self.kind.type_name().into());
        self.kind.stored_fields(&mut o);
        Value::Object(o)
    }

    /// Read an integration a store saved with [`Integration::to_stored_json`].
    pub fn from_stored(
        id: impl Into<String>,
        entity: impl Into<EntityId>,
        doc: &Value,
        disabled: Option<String>,
        created_at: Timestamp,
    ) -> Result<Integration, Invalid> {
        let mut i = Integration::from_create(id, entity, doc, created_at)?;
        i.disabled = disabled;
        Ok(i)
    }

    /// The secrets this integration holds, for tests and log scrubbing: every value that must
    /// never appear in a response.
    pub fn secrets(&self) -> Vec<&Secret> {
        match &self.kind {
            IntegrationKind::Webhook { access_token, secret, .. } => access_token.iter().chain(secret).collect(),
            IntegrationKind::Slack { url, .. } => vec![url],
            IntegrationKind::Mlflow { registry, tracking } => {
                let mut out: Vec<&Secret> = registry.iter().map(|(s, _)| s).collect();
                match tracking.as_ref().map(|t| &t.auth) {
                    Some(TrackingAuth::Token(t)) => out.push(t),
                    Some(TrackingAuth::Basic { username, password }) => out.extend([username, password]),
                    _ => {}
                }
                out
            }
        }
    }

    /// The tracking side of an `mlflow` integration, if it has one.
    pub fn tracking(&self) -> Option<&MlflowTracking> {
        match &self.kind {
            IntegrationKind::Mlflow { tracking, .. } => tracking.as_ref(),
            _ => None,
        }
    }
}

/// Check an integration name: at most [`MAX_INTEGRATION_NAME_LEN`] characters, no control
/// characters, no `/` (names are path segments: `/v1/integrations/{name}`).
pub fn check_name(name: &str, path: &str, errors: &mut Errors) {
    if name.chars().count() > MAX_INTEGRATION_NAME_LEN {
        errors.push(path, format!("must be at most {MAX_INTEGRATION_NAME_LEN} characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '/') {
        errors.push(path, "must not contain control characters or '/'");
    }
}

fn parse_kind(r: &mut ObjReader<'_>, errors: &mut Errors) -> Option<IntegrationKind> {
    let ty = r.required("type", errors).and_then(|t| one_of(t, &r.path_of("type"), &INTEGRATION_TYPES, errors))?;
    match ty {
        "webhook" => {
            let url = r.str("url", errors).and_then(|u| check_url(u, "url", false, errors));
            let access_token = secret_field(r, "access_token", errors);
            let secret = secret_field(r, "secret", errors);
            Some(IntegrationKind::Webhook { url: url?, access_token: access_token?, secret: secret? })
        }
        "slack" => {
            let url = r.str("url", errors).and_then(|u| check_url(u, "url", true, errors));
            let channel = r.str("channel", errors).map(str::to_string);
            if let Some(c) = &channel
                && (c.len() > MAX_FIELD_LEN || c.chars().any(char::is_control))
            {
                errors.push("channel", format!("must be at most {MAX_FIELD_LEN} bytes, without control characters"));
            }
            Some(IntegrationKind::Slack { url: Secret::new(url?), channel: channel? })
        }
        "mlflow" => {
            let secret = secret_field(r, "secret", errors);
            let registry =
                if r.get("registry").is_some() { r.str("registry", errors).map(str::to_string) } else { None };
            if let Some(g) = &registry
                && (g.len() > MAX_FIELD_LEN || g.chars().any(char::is_control))
            {
                errors.push("registry", format!("must be at most {MAX_FIELD_LEN} bytes, without control characters"));
            }
            let tracking = parse_tracking(r, errors);
            let registry = match (secret, registry) {
                (Some(Some(s)), Some(g)) => Some((s, g)),
                (Some(None), Some(_)) => {
                    errors.push(
                        "secret",
                        "is required with registry: MLflow deliveries are authenticated by their signature alone",
                    );
                    None
                }
                (Some(Some(_)), None) if errors.is_empty() => {
                    errors.push("registry", "is required with secret: it is where MLflow's registered models land");
                    None
                }
                _ => None,
            };
            if registry.is_none() && !matches!(tracking, Some(Some(_))) && errors.is_empty() {
                errors.push(
                    "tracking_uri",
                    "an mlflow integration needs tracking_uri (to poll runs), or secret and registry (for registry webhooks), or both",
                );
            }
            Some(IntegrationKind::Mlflow { registry, tracking: tracking? })
        }
        _ => None,
    }
}

/// The tracking fields of an `mlflow` create document. `Some(None)`: no `tracking_uri` (and
/// none of the fields that need one); `None`: an error was recorded.
fn parse_tracking(r: &mut ObjReader<'_>, errors: &mut Errors) -> Option<Option<MlflowTracking>> {
    let before = errors.len();
    let uri = r.opt_str("tracking_uri", errors);
    let token = secret_field(r, "token", errors);
    let username = secret_field(r, "username", errors);
    let password = secret_field(r, "password", errors);
    let experiments = r.get("experiments");
    let poll = r.opt_int("poll_seconds", i64::from(MIN_POLL_SECONDS)..=86_400, errors);
    let Some(uri) = uri else {
        for (field, set) in [
            ("token", matches!(token, Some(Some(_)))),
            ("username", matches!(username, Some(Some(_)))),
            ("password", matches!(password, Some(Some(_)))),
            ("experiments", experiments.is_some()),
            ("poll_seconds", poll.is_some()),
        ] {
            if set {
                errors.push(field, "needs tracking_uri (the MLflow tracking server to poll)");
            }
        }
        return (errors.len() == before).then_some(None);
    };
    let uri = check_url(uri, "tracking_uri", false, errors).map(|u| u.trim_end_matches('/').to_string());
    if let Some(u) = &uri
        && u.split("://")
            .nth(1)
            .is_some_and(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default().contains('@'))
    {
        errors.push("tracking_uri", "must not carry credentials; give them as username and password, or token");
    }
    let auth = match (token.flatten(), username.flatten(), password.flatten()) {
        (None, None, None) => Some(TrackingAuth::None),
        (Some(t), None, None) => Some(TrackingAuth::Token(t)),
        (None, Some(username), Some(password)) => Some(TrackingAuth::Basic { username, password }),
        (Some(_), _, _) => {
            errors.push("token", "give either token or username and password, not both");
            None
        }
        (None, Some(_), None) => {
            errors.push("password", "is required with username");
            None
        }
        (None, None, Some(_)) => {
            errors.push("username", "is required with password");
            None
        }
    };
    let experiments = match experiments {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_EXPERIMENTS => {
            let mut names = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(n) if !n.is_empty() && n.len() <= MAX_FIELD_LEN && !n.chars().any(char::is_control) => {
                        if !names.iter().any(|m: &String| m == n) {
                            names.push(n.to_string());
                        }
                    }
                    _ => errors.push(
                        format!("experiments[{i}]"),
                        format!("must be an experiment name: a string of 1 to {MAX_FIELD_LEN} bytes without control characters"),
                    ),
                }
            }
            Some(names)
        }
        Some(_) => {
            errors.push(
                "experiments",
                format!("must be a list of 1 to {MAX_EXPERIMENTS} experiment names (leave it out for every active experiment)"),
            );
            None
        }
    };
    if errors.len() != before {
        return None;
    }
    Some(Some(MlflowTracking {
        uri: uri?,
        auth: auth?,
        experiments,
        poll_seconds: poll.map_or(DEFAULT_POLL_SECONDS, |p| p as u32),
    }))
}

/// An optional credential. `Some(None)`: absent; `None`: an error was recorded. The message never
/// quotes the value.
fn secret_field(r: &mut ObjReader<'_>, field: &'static str, errors: &mut Errors) -> Option<Option<Secret>> {
    match r.get(field) {
        None => Some(None),
        Some(Value::String(s)) if s.is_empty() => {
            errors.push(field, "must not be empty (leave it out for none)");
            None
        }
        Some(Value::String(s)) if s.len() > MAX_FIELD_LEN => {
            errors.push(field, format!("must be at most {MAX_FIELD_LEN} bytes"));
            None
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            errors.push(field, "must not contain control characters");
            None
        }
        Some(Value::String(s)) => Some(Some(Secret::new(s.clone()))),
        Some(other) => {
            errors.push(field, format!("must be a string, got {}", super::reader::type_name(other)));
            None
        }
    }
}

/// An absolute `http://` or `https://` URL with a host. The message does not quote the URL: a
/// Slack webhook URL is a credential, and a webhook URL may carry one in its query.
fn check_url(url: &str, path: &str, secret: bool, errors: &mut Errors) -> Option<String> {
    let what = if secret { "the Slack incoming-webhook URL" } else { "the URL" };
    if url.len() > MAX_FIELD_LEN {
        errors.push(path, format!("{what} must be at most {MAX_FIELD_LEN} bytes"));
        return None;
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        errors.push(path, format!("{what} must start with http:// or https://"));
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        errors.push(path, format!("{what} must name a host"));
        return None;
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(path, format!("{what} must not contain spaces or control characters"));
        return None;
    }
    // The parser the sender uses: what it refuses (a port over 65535, a bad IPv6 literal, a bad
    // percent-encoded host) would fail every delivery, so it is refused now. Its messages never
    // quote the URL.
    if let Err(e) = url::Url::parse(url) {
        errors.push(path, format!("{what} is not a valid URL: {e}"));
        return None;
    }
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(doc: Value) -> Result<Integration, Invalid> {
        Integration::from_create("in_1", "acme", &doc, Timestamp(0))
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        let i = create(json!({"name": "h", "type": "webhook", "url": "https://x.test/h", "secret": "hunter2", "access_token": "tok-9"})).unwrap();
        let debug = format!("{i:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("tok-9"), "{debug}");
        let public = i.to_public_json().to_string();
        assert!(!public.contains("hunter2") && !public.contains("tok-9"), "{public}");
        assert_eq!(i.to_public_json()["has_secret"], true);
        assert_eq!(i.to_public_json()["has_access_token"], true);
    }

    /// Issue 16, item 5: credentials inside a webhook URL were returned verbatim by create, get
    /// and list (all of which show `to_public_json`); they are masked as executions mask them.
    #[test]
    fn credentials_in_a_webhook_url_are_masked() {
        let i = create(json!({"name": "h", "type": "webhook",
                              "url": "https://ci:pa55word@x.test/h?api_key=k-SECRET&x"}))
        .unwrap();
        let shown = i.to_public_json()["url"].as_str().unwrap().to_string();
        assert_eq!(shown, "https://ci:****@x.test/h?api_key=****&x");
        assert!(!i.to_public_json().to_string().contains("pa55word"));
        assert_eq!(
            create(json!({"name": "h", "type": "webhook", "url": "https://x.test/h"})).unwrap().to_public_json()["url"],
            "https://x.test/h"
        );
        // The stored form keeps the real URL, for delivery.
        assert!(i.to_stored_json().to_string().contains("k-SECRET"));
    }

    /// Issue 16, item 10: a URL the sender cannot use (port 99999) was accepted and then failed
    /// every delivery; it is refused when saved, naming the field.
    #[test]
    fn urls_the_sender_cannot_parse_are_refused() {
        for url in ["https://x.test:99999/h", "http://[::1/h", "http://x.test:8a/h"] {
            let e = create(json!({"name": "h", "type": "webhook", "url": url})).unwrap_err();
            assert_eq!(e.errors[0].path, "url", "{url}");
            assert!(e.to_string().contains("not a valid URL"), "{url}: {e}");
            assert!(!e.to_string().contains(url), "the URL is not quoted: {e}");
        }
    }

    #[test]
    fn slack_url_is_a_secret() {
        let i = create(
            json!({"name": "s", "type": "slack", "url": "https://hooks.slack.test/T0/B0/xyz", "channel": "#ml"}),
        )
        .unwrap();
        let public = i.to_public_json();
        assert!(!public.to_string().contains("xyz"), "{public}");
        assert_eq!(public["channel"], "#ml");
        assert_eq!(i.secrets().len(), 1);
    }

    #[test]
    fn stored_form_round_trips() {
        for doc in [
            json!({"name": "h", "type": "webhook", "url": "http://127.0.0.1:9/h", "access_token": "t", "secret": "s"}),
            json!({"name": "h", "type": "webhook", "url": "https://x.test/h"}),
            json!({"name": "s", "type": "slack", "url": "https://hooks.slack.test/a", "channel": "ml"}),
        ] {
            let i = create(doc.clone()).unwrap();
            assert_eq!(i.to_stored_json(), doc);
            let back = Integration::from_stored("in_1", "acme", &doc, Some("gone".into()), Timestamp(0)).unwrap();
            assert_eq!(back.kind, i.kind);
            assert_eq!(back.disabled.as_deref(), Some("gone"));
        }
    }

    #[test]
    fn errors_name_fields_and_never_quote_credentials() {
        let e = create(json!({"type": "webhook", "url": "ftp://x", "secret": 5, "extra": 1})).unwrap_err();
        let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["name", "url", "secret", "extra"]);
        let e = create(json!({"name": "s", "type": "slack", "url": "hooks.slack.test/SECRETPART"})).unwrap_err();
        assert!(!e.to_string().contains("SECRETPART"), "{e}");
        assert_eq!(e.errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), vec!["url", "channel"]);
        let e = create(json!({"name": "a/b", "type": "email"})).unwrap_err();
        assert_eq!(e.errors[0].path, "name");
        assert_eq!(e.errors[1].path, "type");
        assert!(create(json!({"name": "h", "type": "webhook", "url": "https:///x"})).is_err());
        assert!(create(json!({"name": "h", "type": "webhook", "url": "https://x.test/a b"})).is_err());
        assert!(create(json!({"name": "h", "type": "webhook", "url": "https://[::1]:8/x"})).is_ok());
        assert_eq!(
            create(json!({"name": "h", "type": "webhook", "url": "https://x", "secret": ""})).unwrap_err().errors[0]
                .path,
            "secret"
        );
    }

    #[test]
    fn mlflow_tracking_fields() {
        let i = create(json!({"name": "m", "type": "mlflow", "tracking_uri": "http://127.0.0.1:5000/",
                              "username": "ana", "password": "pw-9", "experiments": ["mnist", "mnist"]}))
        .unwrap();
        let t = i.tracking().unwrap();
        assert_eq!((t.uri.as_str(), t.poll_seconds), ("http://127.0.0.1:5000", DEFAULT_POLL_SECONDS));
        assert_eq!(t.experiments.as_deref(), Some(&["mnist".to_string()][..]));
        let public = i.to_public_json();
        assert_eq!(public["auth"], "basic");
        assert_eq!(public["has_secret"], false);
        assert!(!public.to_string().contains("pw-9") && !public.to_string().contains("ana"), "{public}");
        assert_eq!(i.secrets().len(), 2);
        let back = Integration::from_stored("in_1", "acme", &i.to_stored_json(), None, Timestamp(0)).unwrap();
        assert_eq!(back.kind, i.kind);
        let both = create(json!({"name": "m", "type": "mlflow", "secret": "s", "registry": "r",
                                 "tracking_uri": "https://mlflow.test", "token": "tok", "poll_seconds": 5}))
        .unwrap();
        assert_eq!(both.to_public_json()["auth"], "token");
        let paths =
            |doc: Value| -> Vec<String> { create(doc).unwrap_err().errors.into_iter().map(|e| e.path).collect() };
        assert_eq!(paths(json!({"name": "m", "type": "mlflow"})), ["tracking_uri"]);
        assert_eq!(
            paths(json!({"name": "m", "type": "mlflow", "tracking_uri": "http://x", "poll_seconds": 4})),
            ["poll_seconds"]
        );
        assert_eq!(
            paths(json!({"name": "m", "type": "mlflow", "tracking_uri": "http://x", "username": "u"})),
            ["password"]
        );
        assert_eq!(paths(json!({"name": "m", "type": "mlflow", "tracking_uri": "http://u:p@x"})), ["tracking_uri"]);
        assert_eq!(
            paths(json!({"name": "m", "type": "mlflow", "tracking_uri": "http://x", "experiments": []})),
            ["experiments"]
        );
        assert_eq!(
            paths(json!({"name": "m", "type": "mlflow", "tracking_uri": "http://x", "experiments": [""]})),
            ["experiments[0]"]
        );
        assert_eq!(
            paths(json!({"name": "m", "type": "mlflow", "token": "t", "secret": "s", "registry": "r"})),
            ["token"]
        );
        let e = create(json!({"name": "m", "type": "mlflow", "tracking_uri": "ftp://x", "token": "tok-secret"}))
            .unwrap_err();
        assert!(!e.to_string().contains("tok-secret"));
    }
}
