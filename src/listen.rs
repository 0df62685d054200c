//! `automations listen`: a webhook receiver for trying the product out on one machine, as
//! `stripe listen` is for Stripe. Every request it gets is printed (method, path, the delivery
//! headers, the body) with whether its signatures hold for `--secret`: the Standard Webhooks
//! signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`, and the timestamp within
//! 5 minutes) and W&B's `X-Wandb-Signature`. It answers `--status` (200 by default), so retries
//! and 410 Gone can be tried too.

use anyhow::{Context, Result};
use automations_core::delivery::sign::SigningKey;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// How far `webhook-timestamp` may be from this clock (the Standard Webhooks tolerance).
const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Listen on `addr` until Ctrl-C or SIGTERM.
pub fn listen(addr: SocketAddr, secret: Option<&str>, status: u16) -> Result<()> {
    let key = match secret {
        Some(s) => Some(SigningKey::new(s).map_err(|e| anyhow::anyhow!("--secret: {e}"))?),
        None => None,
    };
    let status =
        StatusCode::from_u16(status).map_err(|_| anyhow::anyhow!("--status: {status} is not an HTTP status"))?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let key = Arc::new(key);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let key = key.clone();
            async move {
                let report = describe(&method, &uri, &headers, &body, key.as_ref().as_ref(), now_seconds());
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(report.as_bytes()).and_then(|()| out.flush()) {
                    eprintln!("automations listen: cannot write to standard output: {e}");
                }
                status
            }
        });
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr().context("cannot read the bound address")?;
        let checks = if secret.is_some() { "checking signatures" } else { "no --secret: signatures not checked" };
        eprintln!("automations listen: listening on http://{bound} ({checks}; answering {})", status.as_u16());
        axum::serve(listener, app)
            .with_graceful_shutdown(crate::serve::shutdown())
            .await
            .context("the receiver stopped")
    })
}

fn now_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// What one request was, and whether its signatures hold.
fn describe(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&SigningKey>,
    now: i64,
) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut out = format!("--> {method} {uri}\n");
    for name in ["content-type", "webhook-id", "webhook-timestamp", "user-agent"] {
        if let Some(v) = header(name) {
            out.push_str(&format!("    {name}: {v}\n"));
        }
    }
    if let Some(auth) = header("authorization") {
        let scheme = auth.split(' ').next().unwrap_or_default();
        out.push_str(&format!("    authorization: {scheme} **** (present)\n"));
    }
    out.push_str(&format!("    standard-webhooks signature: {}\n", standard_verdict(headers, body, key, now)));
    out.push_str(&format!("    x-wandb-signature: {}\n", wandb_verdict(headers, body, key)));
    let text = String::from_utf8_lossy(body);
    let shown = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.into_owned());
    for line in shown.lines() {
        out.push_str(&format!("    | {line}\n"));
    }
    out
}

fn standard_verdict(headers: &HeaderMap, body: &[u8], key: Option<&SigningKey>, now: i64) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(signatures) = header("webhook-signature") else { return "missing (unsigned delivery)".into() };
    let Some(key) = key else { return "present, not checked (no --secret)".into() };
    let (Some(id), Some(ts)) = (header("webhook-id"), header("webhook-timestamp")) else {
        return "INVALID: webhook-id or webhook-timestamp is missing".into();
    };
    let Ok(ts) = ts.parse::<i64>() else { return format!("INVALID: webhook-timestamp {ts:?} is not Unix seconds") };
    let want = key.standard_signature(id, ts, body);
    if !signatures.split(' ').any(|s| constant_time_eq(s.as_bytes(), want.as_bytes())) {
        return "INVALID: no signature matches --secret".into();
    }
    if (now - ts).abs() > TOLERANCE_SECONDS {
        return format!(
            "INVALID: the signature matches but the timestamp is {}s away (over 5 minutes)",
            (now - ts).abs()
        );
    }
    "valid".into()
}

fn wandb_verdict(headers: &HeaderMap, body: &[u8], key: Option<&SigningKey>) -> String {
    let Some(got) = headers.get("x-wandb-signature").and_then(|v| v.to_str().ok()) else {
        return "missing (unsigned delivery)".into();
    };
    let Some(key) = key else { return "present, not checked (no --secret)".into() };
    if constant_time_eq(got.as_bytes(), key.wandb_signature(body).as_bytes()) {
        "valid".into()
    } else {
        "INVALID: does not match --secret".into()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn verdicts() {
        let key = SigningKey::new("whsec-try").unwrap();
        let body = br#"{"a":1}"#;
        let now = 1_800_000_000;
        let good = headers(&[
            ("webhook-id", "fire_1".into()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", format!("v1,bogus {}", key.standard_signature("fire_1", now, body))),
            ("x-wandb-signature", key.wandb_signature(body)),
        ]);
        assert_eq!(standard_verdict(&good, body, Some(&key), now + 10), "valid");
        assert_eq!(wandb_verdict(&good, body, Some(&key)), "valid");
        assert!(standard_verdict(&good, b"{}", Some(&key), now).starts_with("INVALID"));
        assert!(wandb_verdict(&good, b"{}", Some(&key)).starts_with("INVALID"));
        assert!(standard_verdict(&good, body, Some(&key), now + 301).contains("timestamp"));
        let other = SigningKey::new("whsec-other").unwrap();
        assert!(standard_verdict(&good, body, Some(&other), now).starts_with("INVALID"));
        assert!(standard_verdict(&good, body, None, now).contains("not checked"));
        assert!(standard_verdict(&HeaderMap::new(), body, Some(&key), now).starts_with("missing"));
        let shown = describe(
            &Method::POST,
            &"/hook".parse().unwrap(),
            &headers(&[("authorization", "Bearer tok-SECRET".into())]),
            body,
            Some(&key),
            now,
        );
        assert!(shown.contains("Bearer ****") && !shown.contains("tok-SECRET"), "{shown}");
    }
}
