//! An integration as the API shows it (openapi.yaml `Integration`): whether each credential is
//! set, never the credential. [`Secret`](super::Secret) has no `Serialize`, so a view that held
//! one would not compile; the view has no field a secret could go in.

use super::{Integration, IntegrationKind, MlflowTracking};
use crate::time::{Timestamp, rfc3339};
use crate::{EntityId, IntegrationName};
use serde::Serialize;

/// `GET /v1/integrations/{name}` and the other integration answers.
#[derive(Debug, Serialize)]
pub struct IntegrationView<'a> {
    id: &'a str,
    name: &'a IntegrationName,
    #[serde(rename = "type")]
    kind: &'static str,
    entity: &'a EntityId,
    #[serde(flatten)]
    fields: KindView<'a>,
    /// Why delivery turned it off (`null`: enabled).
    disabled: Option<&'a str>,
    #[serde(serialize_with = "rfc3339")]
    created_at: Timestamp,
}

/// The fields of each kind, in the order the API has always given them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum KindView<'a> {
    Webhook {
        /// Credentials inside the URL (a password, query values) masked as executions mask them.
        url: String,
        has_access_token: bool,
        has_secret: bool,
    },
    Slack {
        channel: &'a str,
        /// Always true: a Slack integration's URL is its credential.
        has_url: bool,
    },
    Mlflow {
        #[serde(skip_serializing_if = "Option::is_none")]
        registry: Option<&'a str>,
        has_secret: bool,
        #[serde(flatten)]
        tracking: Option<TrackingView<'a>>,
    },
}

#[derive(Debug, Serialize)]
struct TrackingView<'a> {
    tracking_uri: &'a str,
    auth: &'static str,
    /// `null`: every experiment.
    experiments: Option<&'a [String]>,
    poll_seconds: u32,
}

impl<'a> TrackingView<'a> {
    fn of(t: &'a MlflowTracking) -> TrackingView<'a> {
        TrackingView {
            tracking_uri: &t.uri,
            auth: t.auth.name(),
            experiments: t.experiments.as_deref(),
            poll_seconds: t.poll_seconds,
        }
    }
}

impl<'a> IntegrationView<'a> {
    /// The view of `i`, with every credential replaced by whether it is set.
    pub fn of(i: &'a Integration) -> IntegrationView<'a> {
        let fields = match &i.kind {
            IntegrationKind::Webhook { url, access_token, secret } => KindView::Webhook {
                url: crate::delivery::request::mask_url(url, crate::delivery::TargetKind::Webhook),
                has_access_token: access_token.is_some(),
                has_secret: secret.is_some(),
            },
            IntegrationKind::Slack { url: _, channel } => KindView::Slack { channel, has_url: true },
            IntegrationKind::Mlflow { registry, tracking } => KindView::Mlflow {
                registry: registry.as_ref().map(|(_, r)| r.as_str()),
                has_secret: registry.is_some(),
                tracking: tracking.as_ref().map(TrackingView::of),
            },
        };
        IntegrationView {
            id: &i.id,
            name: &i.name,
            kind: i.kind.type_name(),
            entity: &i.entity,
            fields,
            disabled: i.disabled.as_deref(),
            created_at: i.created_at,
        }
    }
}
