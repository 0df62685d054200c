//! The HTTP request of one delivery attempt: URL, headers and signatures, and the copy of it an
//! execution records, with the secrets masked.

use super::execution::RecordedRequest;
use super::sign::{InvalidSecret, SigningKey};
use crate::IntegrationName;
use crate::time::Timestamp;

/// What a delivery goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A generic webhook: bearer token and signatures as configured.
    Webhook,
    /// A Slack incoming webhook: the URL is the credential, nothing else is sent.
    Slack,
}

/// Where and how to send: an integration, resolved at send time.
#[derive(Clone)]
pub struct Target {
    /// Webhook or Slack: decides which headers are sent and what is masked.
    pub kind: TargetKind,
    /// The integration's URL (for Slack, itself the credential); records and `Debug` show it masked ([`mask_url`]).
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN` (webhooks only).
    pub access_token: Option<String>,
    /// Signs the body (webhooks only); see [`super::sign`].
    pub secret: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("url", &mask_url(&self.url, self.kind))
            .field("access_token", &self.access_token.as_ref().map(|_| MASK))
            .field("secret", &self.secret.as_ref().map(|_| MASK))
            .finish()
    }
}

/// What a masked secret reads as.
pub const MASK: &str = "****";

/// One attempt's request, ready to send. Its `Debug` masks the secrets.
#[derive(Clone)]
pub struct OutgoingRequest {
    /// The URL to POST to.
    pub url: String,
    /// Header names in lower case, in the order sent.
    pub headers: Vec<(&'static str, String)>,
    /// The body, exactly as signed and sent.
    pub body: String,
    kind: TargetKind,
}

impl std::fmt::Debug for OutgoingRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.recorded(&IntegrationName::default());
        f.debug_struct("OutgoingRequest").field("url", &r.url).field("headers", &r.headers).finish_non_exhaustive()
    }
}

/// Build the request of an attempt made at `now`. `id` is the fire id: the `webhook-id`,
/// the same on every attempt; the timestamp and signatures are this attempt's.
pub fn build(target: &Target, id: &str, body: &str, now: Timestamp) -> Result<OutgoingRequest, InvalidSecret> {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if target.kind == TargetKind::Webhook {
        if let Some(token) = &target.access_token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let ts = now.0.div_euclid(1000);
        headers.push(("webhook-id", id.to_string()));
        headers.push(("webhook-timestamp", ts.to_string()));
        if let Some(secret) = &target.secret {
            let key = SigningKey::new(secret)?;
            headers.push(("webhook-signature", key.standard_signature(id, ts, body.as_bytes())));
            headers.push(("x-wandb-signature", key.wandb_signature(body.as_bytes())));
        }
    }
    Ok(OutgoingRequest { url: target.url.clone(), headers, body: body.to_string(), kind: target.kind })
}

impl OutgoingRequest {
    /// The copy an execution keeps: the token masked, and the parts of the URL that are
    /// credentials (a Slack webhook's path, a password, query values) masked.
    pub fn recorded(&self, integration: &IntegrationName) -> RecordedRequest {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if *k == "authorization" { format!("Bearer {MASK}") } else { v.clone() };
                (k.to_string(), v)
            })
            .collect();
        RecordedRequest {
            integration: integration.clone(),
            url: Some(mask_url(&self.url, self.kind)),
            headers,
            body: self.body.clone(),
        }
    }
}

/// Mask the parts of a URL that may be credentials: the userinfo's password, every query
/// value, and for Slack everything after `/services/` (the URL is the webhook's secret).
pub fn mask_url(url: &str, kind: TargetKind) -> String {
    let (before_fragment, _) = url.split_once('#').unwrap_or((url, ""));
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}:{MASK}@{host}")
        }
        None => authority.to_string(),
    };
    let path = match (kind, path.find("/services/")) {
        (TargetKind::Slack, Some(i)) => format!("{}/services/{MASK}", &path[..i]),
        (TargetKind::Slack, None) if !path.is_empty() && path != "/" => format!("/{MASK}"),
        _ => path.to_string(),
    };
    let mut out =
        if scheme.is_empty() { format!("{authority}{path}") } else { format!("{scheme}://{authority}{path}") };
    if let Some(q) = query {
        let masked: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}={MASK}"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(token: Option<&str>, secret: Option<&str>) -> Target {
        Target {
            kind: TargetKind::Webhook,
            url: "https://hooks.example.com/in?key=abc&x".into(),
            access_token: token.map(str::to_string),
            secret: secret.map(str::to_string),
        }
    }

    #[test]
    fn signs_and_masks() {
        let now = Timestamp(1_614_265_330_123);
        let r = build(
            &webhook(Some("tok"), Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            r#"{"test": 2432232314}"#,
            now,
        )
        .unwrap();
        let h = |name: &str| r.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        assert_eq!(h("content-type"), Some("application/json"));
        assert_eq!(h("authorization"), Some("Bearer tok"));
        assert_eq!(h("webhook-id"), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
        assert_eq!(h("webhook-timestamp"), Some("1614265330"));
        assert_eq!(h("webhook-signature"), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert!(h("x-wandb-signature").is_some());
        let rec = r.recorded(&IntegrationName::new("hook"));
        assert_eq!(rec.url.as_deref(), Some("https://hooks.example.com/in?key=****&x"));
        assert!(rec.headers.iter().any(|(k, v)| k == "authorization" && v == "Bearer ****"));
        assert!(!format!("{r:?}").contains("tok"), "Debug masks the token");
    }

    #[test]
    fn without_a_secret_there_is_no_signature() {
        let r = build(&webhook(None, None), "fire_1", "{}", Timestamp(0)).unwrap();
        let names: Vec<_> = r.headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["content-type", "webhook-id", "webhook-timestamp"]);
        assert!(build(&webhook(None, Some("whsec_%%%")), "f", "{}", Timestamp(0)).is_err());
    }

    #[test]
    fn slack_sends_only_json_and_hides_its_url() {
        let t = Target {
            kind: TargetKind::Slack,
            url: "https://hooks.slack.com/services/T000/B000/XXXX".into(),
            access_token: Some("ignored".into()),
            secret: Some("ignored".into()),
        };
        let r = build(&t, "fire_1", "{}", Timestamp(0)).unwrap();
        assert_eq!(r.headers.len(), 1);
        assert_eq!(
            r.recorded(&IntegrationName::new("c")).url.as_deref(),
            Some("https://hooks.slack.com/services/****")
        );
        assert!(!format!("{t:?}").contains("XXXX"));
    }

    #[test]
    fn masks_passwords() {
        assert_eq!(mask_url("http://u:p@h:8080/x", TargetKind::Webhook), "http://u:****@h:8080/x");
        assert_eq!(mask_url("http://h/x#frag", TargetKind::Webhook), "http://h/x");
    }
}
