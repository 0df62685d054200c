//! Errors as HTTP answers: `application/problem+json` (RFC 9457) naming the offending fields.
//!
//! Every refusal of the API is an [`ApiError`]. Its body is
//! `{"type": "about:blank", "title", "status", "detail", "errors": [{"path", "message"}]}`, where
//! `errors` lists every bad field by its dotted path (present on validation errors). Messages come
//! from the core's validators, which never quote a credential.

use automations_core::error::{FieldError, Invalid};
use automations_core::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the input is invalid; every bad field is listed.
    #[error("invalid request: {0}")]
    Invalid(Invalid),
    /// 401: no key, a malformed key, or an unknown key.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403: the input names an entity the key does not grant (on the field at `path`).
    #[error("forbidden: {0}")]
    Forbidden(FieldError),
    /// 404: no such object for this key's entity (another entity's objects answer this too).
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: a name is taken, or the object is in use.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 413: the body is larger than the limit.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 501: the route is not available in this deployment yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// 503: the store could not be reached; the client may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: something that should not happen (corrupt stored data).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A validation error on one field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(Invalid::one(path, message))
    }

    /// The HTTP status the error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document.
    pub fn to_problem(&self) -> Value {
        let status = self.status();
        let (detail, errors): (String, Option<&[FieldError]>) = match self {
            ApiError::Invalid(inv) => (format!("the request is invalid: {inv}"), Some(&inv.errors)),
            ApiError::Forbidden(e) => (e.message.clone(), Some(std::slice::from_ref(e))),
            ApiError::Unauthorized(why) => ((*why).to_string(), None),
            ApiError::NotFound(what) => (what.clone(), None),
            ApiError::MethodNotAllowed => ("this route does not take that method".to_string(), None),
            ApiError::Conflict(why) | ApiError::NotImplemented(why) => (why.clone(), None),
            ApiError::TooLarge(limit) => (format!("the request body is over the limit of {limit} bytes"), None),
            ApiError::Unavailable(why) => (format!("the store is unavailable, retry later: {why}"), None),
            ApiError::Internal(why) => (why.clone(), None),
        };
        let mut o = Map::new();
        o.insert("type".into(), "about:blank".into());
        o.insert("title".into(), status.canonical_reason().unwrap_or("Error").into());
        o.insert("status".into(), status.as_u16().into());
        o.insert("detail".into(), detail.into());
        if let Some(errors) = errors {
            o.insert("errors".into(), field_errors(errors));
        }
        Value::Object(o)
    }
}

/// Field errors as the `errors` member of a problem: `[{"path", "message"}]`.
pub fn field_errors(errors: &[FieldError]) -> Value {
    Value::Array(errors.iter().map(|e| json!({"path": e.path, "message": e.message})).collect())
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            taken @ StoreError::NameTaken { .. } => ApiError::Conflict(taken.to_string()),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            StoreError::Unavailable(why) => ApiError::Unavailable(why),
            StoreError::Corrupt(why) => ApiError::Internal(format!("stored data is corrupt: {why}")),
        }
    }
}

/// A JSON response with a status and a content type.
pub fn json_response(status: StatusCode, content_type: &'static str, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = json_response(self.status(), PROBLEM_JSON, &self.to_problem());
        if matches!(self, ApiError::Unauthorized(_)) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
