//! `GET /v1/runs?project=P` and `GET /v1/runs/{entity}/{project}/{run_id}/metrics/{name}`: the
//! stored metric history ([`automations_core::history`]), for the console's run chart. A
//! deployment that keeps none answers 501.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::Query;
use crate::sink::NO_HISTORY;
use crate::{Api, EventSink};
use automations_core::event::RunKey;
use automations_core::history::{MAX_POINTS, Point, RunHistory};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

pub async fn list(State(api): State<Arc<Api>>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["project", "limit"])?;
    let project = match q.get("project") {
        Some(p) if !p.is_empty() => p,
        _ => return Err(ApiError::field("project", "is required: the project whose runs to list")),
    };
    let limit = q.limit(api.limits.default_list, api.limits.max_list)?;
    let runs = api
        .sink
        .history_runs(&caller.entity, project, limit)
        .await?
        .ok_or_else(|| ApiError::NotImplemented(NO_HISTORY.into()))?;
    let items: Vec<_> = runs.iter().map(RunHistory::view).collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

pub async fn metric(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path((entity, project, run_id, name)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let run = RunKey { entity, project, run_id };
    let points = stored(&*api.sink, &caller, &run, &name).await?;
    Ok(axum::Json(json!({
        "entity": run.entity,
        "project": run.project,
        "run_id": run.run_id,
        "metric": name,
        "max_points": MAX_POINTS,
        "points": points,
    }))
    .into_response())
}

/// The stored points of (run, metric): 404 when there are none, or the run is another entity's.
pub(super) async fn stored(
    sink: &dyn EventSink,
    caller: &Caller,
    run: &RunKey,
    metric: &str,
) -> Result<Vec<Point>, ApiError> {
    let none = || {
        ApiError::NotFound(format!(
            "there is no stored history of metric {metric:?} for run {:?} of project {:?}",
            run.run_id, run.project
        ))
    };
    if run.entity != caller.entity {
        return Err(none());
    }
    let points = sink.metric_history(run, metric).await?.ok_or_else(|| ApiError::NotImplemented(NO_HISTORY.into()))?;
    if points.is_empty() {
        return Err(none());
    }
    Ok(points)
}
