//! Test deliveries (`POST /v1/automations/{id}/test`, W&B's Test button): a made-up fire of the
//! automation, rendered and sent once through its integration, with no retry and no execution
//! recorded; the answer describes the request (credentials masked) and the response.

use crate::attempt::{Delivery, target_of};
use automations_core::delivery::{payload, request, sample};
use automations_core::model::{Automation, Integration};
use automations_core::time::Timestamp;
use serde_json::{Value, json};

impl Delivery {
    /// Send a test delivery of `automation` through `integration` now. `None` with an action that
    /// delivers nothing answers that nothing was sent.
    pub async fn test(&self, automation: &Automation, integration: Option<&Integration>, now: Timestamp) -> Value {
        let fire = sample::fire(automation, now);
        let (Some(body), Some(integration)) = (payload::body(&fire), integration) else {
            return json!({"fire_id": fire.id, "delivered": false, "request": null, "response": null,
                          "message": "this automation's action sends nothing"});
        };
        let Some(target) = target_of(integration) else {
            return json!({"fire_id": fire.id, "delivered": false, "request": null, "response": null,
                          "message": format!("the integration {:?} takes no deliveries", integration.name)});
        };
        let req = match request::build(&target, fire.id.as_str(), &body, now) {
            Ok(r) => r,
            Err(e) => {
                return json!({"fire_id": fire.id, "delivered": false, "request": null, "response": null,
                              "message": format!("the integration's secret cannot sign: {e}")});
            }
        };
        let recorded = req.recorded(&integration.name);
        let sent = self.sender.send(&req, &self.clock).await;
        let r = &sent.response;
        let delivered = r.status.is_some_and(|s| (200..300).contains(&s));
        let headers: serde_json::Map<String, Value> =
            recorded.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        json!({
            "fire_id": fire.id,
            "delivered": delivered,
            "request": {"integration": recorded.integration, "method": "POST", "url": recorded.url,
                        "headers": headers, "body": recorded.body},
            "response": {"status": r.status, "body": r.body, "error": r.error, "duration_ms": r.duration_ms},
        })
    }
}
