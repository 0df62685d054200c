//! Reading requests: bodies within the size limit, JSON, query strings, cursors and new ids.
//!
//! axum's own extractors answer errors in plain text; these answer `application/problem+json`
//! naming the field, like every other refusal of the API.

use crate::Api;
use crate::error::ApiError;
use automations_core::time::Timestamp;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use base64::Engine as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

/// A request body, read whole, at most [`crate::Limits::max_body`] bytes (413 beyond).
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest<Arc<Api>> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, api: &Arc<Api>) -> Result<RawBody, ApiError> {
        let limit = api.limits.max_body;
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::TooLarge(limit));
        }
        match Limited::new(req.into_body(), limit).collect().await {
            Ok(collected) => Ok(RawBody(collected.to_bytes())),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::TooLarge(limit)),
            Err(e) => Err(ApiError::field("", format!("the request body could not be read: {e}"))),
        }
    }
}

/// Parse a body as one JSON value (strict JSON: no bare `NaN`).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field("", "the request body is empty; send a JSON document"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::field("", format!("malformed JSON: {e}")))
}

/// A query string's parameters. Each known name may appear once; an unknown name is refused so
/// that a typo (`?enabeld=true`) is not silently ignored.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Read a query string. A parameter not in `known`, or one given twice, is a 400 naming it.
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::field(
                    k.clone(),
                    format!("is not a known query parameter; known: {}", known.join(", ")),
                ));
            }
            if pairs[..i].iter().any(|(p, _)| p == k) {
                return Err(ApiError::field(k.clone(), "is given more than once"));
            }
        }
        Ok(Query { pairs })
    }

    /// The value of parameter `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::field("limit", format!("must be an integer from 1 to {max}"))),
            },
        }
    }

    /// `cursor`: a `next_cursor` of a previous page, decoded for the store.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        self.get("cursor").map(decode_cursor).transpose()
    }

    /// A boolean parameter: `true` or `false`.
    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::field(name, "must be true or false")),
        }
    }
}

/// A store's continuation token as the API shows it: opaque (unpadded base64url).
pub fn encode_cursor(next: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(next.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let bad = || ApiError::field("cursor", "is not a cursor this API returned (use next_cursor of the previous page)");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// A new object id: `prefix` + `_` + the creation time (12 hex digits of milliseconds) + a
/// process-wide sequence number (4 hex digits) + 12 random hex digits. Listings are in id order,
/// so this is creation order (exactly so within one process, to the millisecond across several).
pub fn new_id(prefix: &str, now: Timestamp) -> Result<String, ApiError> {
    static SEQUENCE: AtomicU16 = AtomicU16::new(0);
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness for a new id: {e}")))?;
    let millis = u64::try_from(now.0).unwrap_or(0) & 0xffff_ffff_ffff;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let random = bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    Ok(format!("{prefix}_{millis:012x}{seq:04x}{random:012x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_refuse_unknown_and_repeated_names() {
        let q = Query::parse(Some("limit=5&enabled=true"), &["limit", "enabled"]).unwrap();
        assert_eq!(q.limit(50, 200).unwrap(), 5);
        assert_eq!(q.bool("enabled").unwrap(), Some(true));
        assert!(Query::parse(Some("enabeld=true"), &["enabled"]).is_err());
        assert!(Query::parse(Some("limit=1&limit=2"), &["limit"]).is_err());
        let q = Query::parse(Some("limit=0"), &["limit"]).unwrap();
        assert!(q.limit(50, 200).is_err());
    }

    #[test]
    fn cursors_round_trip_and_ids_sort_by_time() {
        let q = Query::parse(Some(&format!("cursor={}", encode_cursor("au_1"))), &["cursor"]).unwrap();
        assert_eq!(q.cursor().unwrap().as_deref(), Some("au_1"));
        assert!(Query::parse(Some("cursor=%%%"), &["cursor"]).unwrap().cursor().is_err());
        let a = new_id("au", Timestamp(1_000)).unwrap();
        let b = new_id("au", Timestamp(2_000)).unwrap();
        assert!(a < b && a.len() == 3 + 28, "{a} {b}");
    }
}
