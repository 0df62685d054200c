//! How objects look in responses.

use crate::input::encode_cursor;
use automations_core::store::AutomationRecord;
use serde_json::{Map, Value, json};

/// An automation: `id`, its document (every default filled in), `created_at`, `updated_at`.
pub fn automation(r: &AutomationRecord) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), r.automation.id.clone().into());
    if let Value::Object(doc) = r.automation.to_document() {
        o.extend(doc);
    }
    o.insert("created_at".into(), r.created_at.to_string().into());
    o.insert("updated_at".into(), r.updated_at.to_string().into());
    Value::Object(o)
}

/// A page of a listing: `{"items": [...], "next_cursor": "..." | null}`.
pub fn page<T: serde::Serialize>(items: Vec<T>, next: Option<String>) -> Value {
    json!({"items": items, "next_cursor": next.as_deref().map(encode_cursor)})
}
