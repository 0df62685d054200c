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
//! [`IntegrationKind::type_name`], [`parse_kind`], [`IntegrationKind::public_fields`] and
//! [`IntegrationKind::stored_fields`], all in this file.

use super::reader::{ObjReader, one_of};
use crate::error::{Errors, Invalid};
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::fmt;

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
    Webhook { url: String, access_token: Option<Secret>, secret: Option<Secret> },
    /// A Slack incoming webhook. Its URL is the credential (anyone holding it can post), so it is
    /// a [`Secret`]; `channel` is the channel's name, for display.
    Slack { url: Secret, channel: String },
    /// An MLflow tracking server as a source of events: its model-registry webhooks are POSTed
    /// to `/v1/mlflow/{entity}/{name}/events`, signed with `secret` (the MLflow webhook's
    /// secret), and land in `registry` of the integration's entity (see [`crate::mlflow`]).
    Mlflow { secret: Secret, registry: String },
}

impl IntegrationKind {
    /// The `type` of the integration document: `webhook` or `slack`.
    pub fn type_name(&self) -> &'static str {
        match self {
            IntegrationKind::Webhook { .. } => "webhook",
            IntegrationKind::Slack { .. } => "slack",
            IntegrationKind::Mlflow { .. } => "mlflow",
        }
    }

    /// The kind's fields as shown to users: no credential, only whether one is set.
    fn public_fields(&self, out: &mut Map<String, Value>) {
        match self {
            IntegrationKind::Webhook { url, access_token, secret } => {
                // Credentials inside the URL (a password, query values) are masked as secrets
                // are, the same way executions show them.
                let shown = crate::delivery::request::mask_url(url, crate::delivery::TargetKind::Webhook);
                out.insert("url".into(), shown.into());
                out.insert("has_access_token".into(), access_token.is_some().into());
                out.insert("has_secret".into(), secret.is_some().into());
            }
            IntegrationKind::Slack { url: _, channel } => {
                out.insert("channel".into(), channel.clone().into());
                out.insert("has_url".into(), true.into());
            }
            IntegrationKind::Mlflow { secret: _, registry } => {
                out.insert("registry".into(), registry.clone().into());
                out.insert("has_secret".into(), true.into());
            }
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
            IntegrationKind::Mlflow { secret, registry } => {
                out.insert("secret".into(), secret.expose().into());
                out.insert("registry".into(), registry.clone().into());
            }
        }
    }
}

/// The integration types, as the create document's `type` names them.
pub const INTEGRATION_TYPES: [&str; 3] = ["webhook", "slack", "mlflow"];

/// A validated integration of one entity. Automations refer to it by `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: String,
    pub entity: String,
    /// Unique within the entity.
    pub name: String,
    pub kind: IntegrationKind,
    /// Why deliveries to it stopped (e.g. the endpoint answered 410 Gone); `None` when active.
    pub disabled: Option<String>,
    pub created_at: Timestamp,
}

impl Integration {
    /// Validate a create document of entity `entity` (which comes from the API key, not the
    /// body). Every problem is reported with the path of its field; messages never quote a
    /// credential.
    ///
    /// Webhook: `{"name", "type": "webhook", "url", "access_token"?, "secret"?}`.
    /// Slack: `{"name", "type": "slack", "url", "channel"}`.
    /// MLflow: `{"name", "type": "mlflow", "secret", "registry"}`.
    pub fn from_create(
        id: impl Into<String>,
        entity: impl Into<String>,
        doc: &Value,
        created_at: Timestamp,
    ) -> Result<Integration, Invalid> {
        let mut errors = Errors::default();
        let Some(mut r) = ObjReader::new(doc, "", &mut errors) else {
            return Err(errors.finish(()).unwrap_err());
        };
        let name = r.str("name", &mut errors).map(str::to_string);
        if let Some(n) = &name {
            check_name(n, "name", &mut errors);
        }
        let kind = parse_kind(&mut r, &mut errors);
        r.deny_unknown(&mut errors);
        match (name, kind) {
            (Some(name), Some(kind)) if errors.is_empty() => {
                Ok(Integration { id: id.into(), entity: entity.into(), name, kind, disabled: None, created_at })
            }
            _ => Err(errors.finish(()).unwrap_err()),
        }
    }

    /// The integration as users see it: `id`, `name`, `type`, `entity`, the kind's public fields
    /// (`url` and `has_access_token`/`has_secret` for a webhook; `channel` and `has_url` for
    /// Slack; `registry` and `has_secret` for MLflow), `disabled` (a reason, or null) and `created_at`. Never a credential.
    pub fn to_public_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), self.id.clone().into());
        o.insert("name".into(), self.name.clone().into());
        o.insert("type".into(), self.kind.type_name().into());
        o.insert("entity".into(), self.entity.clone().into());
        self.kind.public_fields(&mut o);
        o.insert("disabled".into(), self.disabled.clone().map_or(Value::Null, Value::String));
        o.insert("created_at".into(), self.created_at.to_string().into());
        Value::Object(o)
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
        entity: impl Into<String>,
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
            IntegrationKind::Mlflow { secret, .. } => vec![secret],
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
            let secret = match secret_field(r, "secret", errors) {
                Some(None) => {
                    errors.push("secret", "is required: MLflow deliveries are authenticated by their signature alone");
                    None
                }
                s => s.flatten(),
            };
            let registry = r.str("registry", errors).map(str::to_string);
            if let Some(g) = &registry
                && (g.len() > MAX_FIELD_LEN || g.chars().any(char::is_control))
            {
                errors.push("registry", format!("must be at most {MAX_FIELD_LEN} bytes, without control characters"));
            }
            Some(IntegrationKind::Mlflow { secret: secret?, registry: registry? })
        }
        _ => None,
    }
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
}
