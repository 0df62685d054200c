"""Generate the W&B import fixtures from the real `wandb` client library.

Run through `scripts/wandb-fixtures.sh`, which provides a venv with the pinned library.

Every case below is one automation built with `wandb.automations` and serialised exactly as the
library sends it to W&B's `createFilterTrigger` (`prepare_to_create`, then
`model_dump(by_alias=True, exclude_none=True)`). W&B's scope objects normally come from the W&B
server; here they are the library's own pydantic scope models built with fake ids, which is all
`prepare_to_create` reads from them.

For each case this writes:

- `tests/fixtures/wandb/<case>.json`: an import document (SPEC section 10):
  `{"scope": <native scope>, "integrations": {<W&B id>: <name>}, "input": <library output>}`.
- `tests/fixtures/wandb/expected/<case>.json`: the test oracle, written by hand below (never
  computed from the input): `{"library": <how the input was built>, "automation": <the native
  document the import must produce>}` or, for what this product cannot take,
  `{"library": ..., "refused": {"by": "import"|"model", "path": <field path>, "reason": <text
  the message must contain>}}`, plus a `note` where something needs saying.

The script is idempotent: it rewrites only files whose content changed and removes fixtures of
cases that no longer exist.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import wandb
from wandb._filters import All, FilterExpr, In, Not, Regex, Size
from wandb.automations import (
    ArtifactEvent,
    Automation,
    DoNothing,
    MetricChangeFilter,
    MetricZScoreFilter,
    OnAddArtifactAlias,
    OnAddArtifactTag,
    OnAddCollectionTag,
    OnCreateArtifact,
    OnLinkArtifact,
    OnRemoveArtifactTag,
    OnRemoveCollectionTag,
    OnRunMetric,
    OnRunState,
    OnUnlinkArtifact,
    OrgScope,
    ProjectScope,
    RegistryScope,
    RunEvent,
    SendNotification,
    SendPromptToAria,
    SendWebhook,
    TeamScope,
)
from wandb.automations._generated import (
    CreateFilterTriggerInput,
    PushNotificationActionInput,
    QueueJobActionInput,
    TriggeredActionConfig,
)
from wandb.automations._inputs import prepare_to_create
from wandb.automations._run_state_filters import ReportedRunState
from wandb.automations.events import RunMetricFilter, RunStateFilter
from wandb.automations.scopes import _ArtifactPortfolioScope, _ArtifactSequenceScope

WANDB_VERSION = "0.31.0"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "wandb"
EXPECTED = OUT / "expected"

# ---------------------------------------------------------------------------------------------
# W&B side: scope objects with fake ids (what `api.project(...)` etc. would return), integrations.

W_PROJECT = ProjectScope(id="UHJvamVjdDoxMjM=", name="mnist")
W_REGISTRY = RegistryScope(id="UHJvamVjdDo5OTk=", full_name="wandb-registry-model")
W_PORTFOLIO = _ArtifactPortfolioScope(id="QXJ0aWZhY3RQb3J0Zm9saW86NDU2", name="classifier")
W_SEQUENCE = _ArtifactSequenceScope(id="QXJ0aWZhY3RTZXF1ZW5jZTo3ODk=", name="mnist-data")
W_TEAM = TeamScope(id="RW50aXR5OjE=", name="acme")
W_ORG = OrgScope(id="RW50aXR5OjI=", name="acme-org")

WEBHOOK_ID = "SW50ZWdyYXRpb246MQ=="
SLACK_ID = "SW50ZWdyYXRpb246Mg=="
WEBHOOK_NAME = "deploy-hook"
SLACK_NAME = "ml-alerts"

PAYLOAD = {
    "event_type": "${event_type}",
    "author": "${event_author}",
    "artifact": "${artifact_version_string}",
}
# The library JSON-encodes the payload compactly, keeping key order.
PAYLOAD_TEXT = (
    '{"event_type":"${event_type}","author":"${event_author}",'
    '"artifact":"${artifact_version_string}"}'
)
RUN_PAYLOAD = {"run": "${run_name}", "metric": "${metric_name}", "values": "${metric_values}"}
RUN_PAYLOAD_TEXT = '{"run":"${run_name}","metric":"${metric_name}","values":"${metric_values}"}'

ACTIONS: dict[str, Callable[[], Any]] = {
    "WEBHOOK": lambda: SendWebhook(integration_id=WEBHOOK_ID, request_payload=PAYLOAD),
    "WEBHOOK_RUN": lambda: SendWebhook(integration_id=WEBHOOK_ID, request_payload=RUN_PAYLOAD),
    "WEBHOOK_BARE": lambda: SendWebhook(integration_id=WEBHOOK_ID),
    "SLACK_INFO": lambda: SendNotification(integration_id=SLACK_ID),
    "SLACK_WARN": lambda: SendNotification(
        integration_id=SLACK_ID, title="Metric alert", message="Look at it", severity="WARN"
    ),
    "SLACK_ERROR": lambda: SendNotification(
        integration_id=SLACK_ID, title="Run failed", message="Check it", severity="ERROR"
    ),
    "NOOP": lambda: DoNothing(),
    "ARIA": lambda: SendPromptToAria(prompt="Summarise what changed"),
}
ACTION_SOURCE = {
    "WEBHOOK": f"SendWebhook(integration_id=..., request_payload={PAYLOAD!r})",
    "WEBHOOK_RUN": f"SendWebhook(integration_id=..., request_payload={RUN_PAYLOAD!r})",
    "WEBHOOK_BARE": "SendWebhook(integration_id=...)",
    "SLACK_INFO": "SendNotification(integration_id=...)",
    "SLACK_WARN": "SendNotification(integration_id=..., title='Metric alert', "
    "message='Look at it', severity='WARN')",
    "SLACK_ERROR": "SendNotification(integration_id=..., title='Run failed', "
    "message='Check it', severity='ERROR')",
    "NOOP": "DoNothing()",
    "ARIA": "SendPromptToAria(prompt='Summarise what changed')",
}

# ---------------------------------------------------------------------------------------------
# Native side (this product): scopes chosen per case, and the hand-written expected actions.

PROJECT = {"type": "project", "entity": "acme", "project": "mnist"}
REGISTRY = {"type": "registry", "entity": "acme", "registry": "model"}
REGISTRY_COLLECTION = {
    "type": "collection",
    "entity": "acme",
    "registry": "model",
    "collection": "classifier",
}
PROJECT_COLLECTION = {
    "type": "collection",
    "entity": "acme",
    "project": "mnist",
    "collection": "mnist-data",
}
ENTITY = {"type": "entity", "entity": "acme"}

N_WEBHOOK = {"type": "webhook", "integration": WEBHOOK_NAME, "payload": PAYLOAD_TEXT}
N_WEBHOOK_RUN = {"type": "webhook", "integration": WEBHOOK_NAME, "payload": RUN_PAYLOAD_TEXT}
N_WEBHOOK_BARE = {"type": "webhook", "integration": WEBHOOK_NAME}
N_SLACK_INFO = {
    "type": "slack",
    "integration": SLACK_NAME,
    "title": "",
    "message": "",
    "severity": "INFO",
}
N_SLACK_WARN = {
    "type": "slack",
    "integration": SLACK_NAME,
    "title": "Metric alert",
    "message": "Look at it",
    "severity": "WARN",
}
N_SLACK_ERROR = {
    "type": "slack",
    "integration": SLACK_NAME,
    "title": "Run failed",
    "message": "Check it",
    "severity": "ERROR",
}
N_NONE = {"type": "none"}

# The library wraps every artifact-event filter as {"$or": [{"$and": [...]}]} and every run
# filter as {"$and": [...]}; the import keeps those wrappers (they mean the same).
NO_ARTIFACT_FILTER = {"$or": [{"$and": []}]}
NO_RUN_FILTER = {"$and": []}


def art(*exprs: Any) -> dict[str, Any]:
    return {"$or": [{"$and": list(exprs)}]}


def run(*exprs: Any) -> dict[str, Any]:
    return {"$and": list(exprs)}


# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    scope: dict[str, Any]
    # Python source of the event, evaluated against this module's names: the fixture says how
    # it was built, and the source cannot drift from what was built.
    event: str
    action: str
    expect_event: dict[str, Any] | None = None
    expect_action: dict[str, Any] | None = None
    refused: dict[str, str] | None = None
    description: str | None = "demo"
    enabled: bool = True
    note: str | None = None
    # Rewrites the library's output for the few cases that need it (documented in `note`).
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Builds the input some other way than prepare_to_create (documented in `note`).
    raw_input: Callable[[], dict[str, Any]] | None = None
    integrations: dict[str, str] | None = field(default=None)
    # The automation's name when it is not the case's (file) name.
    automation_name: str | None = None

    @property
    def title(self) -> str:
        return self.automation_name or self.name


def integrations_for(action: str) -> dict[str, str] | None:
    if action.startswith("WEBHOOK"):
        return {WEBHOOK_ID: WEBHOOK_NAME}
    if action.startswith("SLACK"):
        return {SLACK_ID: SLACK_NAME}
    return None  # NO_OP needs no integration, so the import omits the map


def dump_input(case: Case) -> dict[str, Any]:
    if case.raw_input is not None:
        return case.raw_input()
    event = eval(case.event)  # noqa: S307 - our own literal source, see Case.event
    kwargs: dict[str, Any] = {"name": case.title, "enabled": case.enabled}
    if case.description is not None:
        kwargs["description"] = case.description
    created = prepare_to_create(event=event, action=ACTIONS[case.action](), **kwargs)
    out = created.model_dump(by_alias=True, exclude_none=True)
    return case.transform(out) if case.transform else out


def expected_for(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {"library": f"{case.event} >> {ACTION_SOURCE[case.action]}"}
    if case.note:
        out["note"] = case.note
    if case.refused is not None:
        out["refused"] = case.refused
        return out
    doc: dict[str, Any] = {"name": case.title}
    if case.description is not None:
        doc["description"] = case.description
    doc["enabled"] = case.enabled
    doc["scope"] = case.scope
    doc["event"] = case.expect_event
    doc["action"] = case.expect_action
    out["automation"] = doc
    return out


# ---------------------------------------------------------------------------------------------
# Inputs that prepare_to_create cannot make.


def saved_form_input() -> dict[str, Any]:
    """An input whose eventFilter is the saved form, as the library serialises a saved trigger.

    W&B answers a saved automation with its filter wrapped once more ({"filter": "<json>"});
    the library parses such an answer into `Automation`, whose event serialises that form.
    """
    saved = {
        "__typename": "Trigger",
        "id": "VHJpZ2dlcjoxMjM=",
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": None,
        "name": "saved-form-add-alias",
        "description": None,
        "enabled": True,
        "scope": {"__typename": "ArtifactPortfolio", "id": W_PORTFOLIO.id, "name": "classifier"},
        "event": {
            "__typename": "FilterEventTriggeringCondition",
            "eventType": "ADD_ARTIFACT_ALIAS",
            "filter": json.dumps(
                {"filter": json.dumps(art({"alias": {"$regex": "^prod$"}}))}
            ),
        },
        "action": {
            "__typename": "GenericWebhookTriggeredAction",
            "integration": {"__typename": "GenericWebhookIntegration", "id": WEBHOOK_ID},
            "requestPayload": PAYLOAD_TEXT,
        },
    }
    automation = Automation.model_validate(saved)
    event_filter = automation.event.model_dump(by_alias=True)["filter"]
    assert json.loads(event_filter).keys() == {"filter"}, event_filter
    created = prepare_to_create(
        name="saved-form-add-alias",
        event=OnAddArtifactAlias(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.matches_regex("^prod$")),
        action=SendWebhook(integration_id=WEBHOOK_ID, request_payload=PAYLOAD),
    ).model_dump(by_alias=True, exclude_none=True)
    created["eventFilter"] = event_filter
    return created


def generated_input(event_type: str, action_type: str, config: dict[str, Any], name: str) -> dict[str, Any]:
    """An input built with the library's generated GraphQL input type directly.

    `prepare_to_create` refuses the legacy event and action types, but the generated
    `CreateFilterTriggerInput` (what actually goes on the wire) still carries them.
    """
    filt = json.dumps(NO_ARTIFACT_FILTER, separators=(",", ":"))
    if event_type == "WEAVE_METRIC_THRESHOLD":
        filt = json.dumps({"metric": "latency", "threshold": 2}, separators=(",", ":"))
    model = CreateFilterTriggerInput(
        name=name,
        description="demo",
        enabled=True,
        event_filter=filt,
        scope_id=W_PORTFOLIO.id,
        scope_type="ARTIFACT_COLLECTION",
        triggered_action_config=TriggeredActionConfig(**config),
        triggered_action_type=action_type,
        triggering_event_type=event_type,
    )
    return model.model_dump(by_alias=True, exclude_none=True)


def drop_run_metric_filter(out: dict[str, Any]) -> dict[str, Any]:
    filt = json.loads(out["eventFilter"])
    del filt["run_metric_filter"]
    out["eventFilter"] = json.dumps(filt, separators=(",", ":"))
    return out


# ---------------------------------------------------------------------------------------------
# The cases. Expected documents are written from SPEC sections 2-6 and 10 and docs/automation.md.

CASES: list[Case] = [
    # -- artifact events ----------------------------------------------------------------------
    Case(
        "link-artifact-alias-eq",
        REGISTRY_COLLECTION,
        "OnLinkArtifact(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.eq('prod'))",
        "WEBHOOK",
        {"type": "LINK_ARTIFACT", "filter": art({"alias": {"$eq": "prod"}})},
        N_WEBHOOK,
        note="The library sends LINK_MODEL for its LINK_ARTIFACT.",
    ),
    Case(
        "link-artifact-registry-no-filter",
        REGISTRY,
        "OnLinkArtifact(scope=W_REGISTRY)",
        "WEBHOOK_BARE",
        {"type": "LINK_ARTIFACT", "filter": NO_ARTIFACT_FILTER},
        N_WEBHOOK_BARE,
    ),
    Case(
        "unlink-artifact-alias-ne",
        REGISTRY_COLLECTION,
        "OnUnlinkArtifact(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.ne('staging'))",
        "SLACK_INFO",
        {"type": "UNLINK_ARTIFACT", "filter": art({"alias": {"$ne": "staging"}})},
        N_SLACK_INFO,
        note="A notification built without title, message or severity: the library fills in "
        "'', '' and INFO.",
    ),
    Case(
        "create-artifact-disabled",
        PROJECT_COLLECTION,
        "OnCreateArtifact(scope=W_SEQUENCE)",
        "NOOP",
        {"type": "CREATE_ARTIFACT", "filter": NO_ARTIFACT_FILTER},
        N_NONE,
        description=None,
        enabled=False,
    ),
    Case(
        "add-alias-regex",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.matches_regex('^prod.*'))",
        "SLACK_ERROR",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$regex": "^prod.*"}})},
        N_SLACK_ERROR,
    ),
    Case(
        "add-alias-or",
        REGISTRY,
        "OnAddArtifactAlias(scope=W_REGISTRY, "
        "filter=ArtifactEvent.alias.eq('prod') | ArtifactEvent.alias.eq('staging'))",
        "WEBHOOK",
        {
            "type": "ADD_ARTIFACT_ALIAS",
            "filter": art({"$or": [{"alias": {"$eq": "prod"}}, {"alias": {"$eq": "staging"}}]}),
        },
        N_WEBHOOK,
    ),
    Case(
        "add-alias-and-tag",
        PROJECT,
        "OnAddArtifactAlias(scope=W_PROJECT, "
        "filter=ArtifactEvent.alias.eq('prod') & ArtifactEvent.tag.eq('approved'))",
        "WEBHOOK",
        {
            "type": "ADD_ARTIFACT_ALIAS",
            "filter": art({"alias": {"$eq": "prod"}}, {"tag": {"$eq": "approved"}}),
        },
        N_WEBHOOK,
    ),
    Case(
        "add-alias-in",
        PROJECT,
        "OnAddArtifactAlias(scope=W_PROJECT, filter=ArtifactEvent.alias.in_(['prod', 'staging']))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$in": ["prod", "staging"]}})},
        N_WEBHOOK,
    ),
    Case(
        "add-alias-not-in",
        PROJECT,
        "OnAddArtifactAlias(scope=W_PROJECT, filter=ArtifactEvent.alias.not_in(['latest']))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$nin": ["latest"]}})},
        N_WEBHOOK,
    ),
    Case(
        "add-alias-contains",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.contains('prod'))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$contains": "prod"}})},
        N_WEBHOOK,
    ),
    Case(
        "add-alias-exists",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.exists())",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$exists": True}})},
        N_WEBHOOK,
    ),
    Case(
        "add-tag-not-exists",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=~ArtifactEvent.tag.exists())",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"$not": {"tag": {"$exists": True}}})},
        N_WEBHOOK,
        note="~ on a field expression is a whole-expression $not (the library does not turn it "
        "into $exists: false).",
    ),
    Case(
        "add-alias-not-regex",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=~ArtifactEvent.alias.matches_regex('^tmp-'))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"$not": {"alias": {"$regex": "^tmp-"}}})},
        N_WEBHOOK,
        note="`~expr` is a $not over a whole expression, not MongoDB's field-level $not.",
    ),
    Case(
        "add-alias-field-not",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, "
        "filter=FilterExpr(field='alias', op=Not(expr=Regex(val='^tmp-'))))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$not": {"$regex": "^tmp-"}}})},
        N_WEBHOOK,
    ),
    Case(
        "add-alias-nor",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, "
        "filter=~(ArtifactEvent.alias.eq('old') | ArtifactEvent.tag.eq('broken')))",
        "WEBHOOK",
        {
            "type": "ADD_ARTIFACT_ALIAS",
            "filter": art({"$nor": [{"alias": {"$eq": "old"}}, {"tag": {"$eq": "broken"}}]}),
        },
        N_WEBHOOK,
        note="The library simplifies ~(a | b) to $nor.",
    ),
    Case(
        "add-alias-eq-list",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.eq(('a', 'b')))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$eq": ["a", "b"]}})},
        N_WEBHOOK,
    ),
    Case(
        "add-alias-comparisons",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=("
        "(ArtifactEvent.alias.gte('v1') & ArtifactEvent.alias.lt('v9'))"
        " | (ArtifactEvent.tag.gt('a') & ArtifactEvent.tag.lte('m'))))",
        "WEBHOOK",
        {
            "type": "ADD_ARTIFACT_ALIAS",
            "filter": art(
                {
                    "$or": [
                        {"$and": [{"alias": {"$gte": "v1"}}, {"alias": {"$lt": "v9"}}]},
                        {"$and": [{"tag": {"$gt": "a"}}, {"tag": {"$lte": "m"}}]},
                    ]
                }
            ),
        },
        N_WEBHOOK,
    ),
    Case(
        "add-alias-raw-dict",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, "
        "filter={'alias': 'prod', 'tag': {'$regex': '^ok'}})",
        "WEBHOOK",
        {
            "type": "ADD_ARTIFACT_ALIAS",
            "filter": art({"alias": {"$eq": "prod"}}, {"tag": {"$regex": "^ok"}}),
        },
        N_WEBHOOK,
        note="A plain dict filter: the library turns a bare value into $eq and two keys into $and.",
    ),
    Case(
        "add-artifact-tag",
        REGISTRY_COLLECTION,
        "OnAddArtifactTag(scope=W_PORTFOLIO, filter=ArtifactEvent.tag.eq('approved'))",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_TAG", "filter": art({"tag": {"$eq": "approved"}})},
        N_WEBHOOK,
    ),
    Case(
        "remove-artifact-tag",
        PROJECT,
        "OnRemoveArtifactTag(scope=W_PROJECT, filter=ArtifactEvent.tag.in_(['approved', 'golden']))",
        "SLACK_WARN",
        {"type": "REMOVE_ARTIFACT_TAG", "filter": art({"tag": {"$in": ["approved", "golden"]}})},
        N_SLACK_WARN,
    ),
    Case(
        "add-collection-tag",
        REGISTRY,
        "OnAddCollectionTag(scope=W_REGISTRY, filter=ArtifactEvent.tag.eq('candidate'))",
        "WEBHOOK",
        {"type": "ADD_COLLECTION_TAG", "filter": art({"tag": {"$eq": "candidate"}})},
        N_WEBHOOK,
    ),
    Case(
        "remove-collection-tag",
        ENTITY,
        "OnRemoveCollectionTag(scope=W_TEAM, filter=ArtifactEvent.tag.matches_regex('^release-'))",
        "NOOP",
        {"type": "REMOVE_COLLECTION_TAG", "filter": art({"tag": {"$regex": "^release-"}})},
        N_NONE,
    ),
    Case(
        "saved-form-add-alias",
        REGISTRY_COLLECTION,
        "Automation.model_validate(<saved trigger>).event.filter",
        "WEBHOOK",
        {"type": "ADD_ARTIFACT_ALIAS", "filter": art({"alias": {"$regex": "^prod$"}})},
        N_WEBHOOK,
        description=None,
        raw_input=saved_form_input,
        note="eventFilter is the saved form ({\"filter\": \"<json>\"}), produced by the library "
        "from a saved trigger as W&B's API returns it; the rest of the input is "
        "prepare_to_create's.",
    ),
    # -- run metric threshold -----------------------------------------------------------------
    Case(
        "metric-threshold-last-gt",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').gt(1))",
        "WEBHOOK_RUN",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "loss", "window": 1, "cmp": "$gt", "threshold": 1},
        },
        N_WEBHOOK_RUN,
        note="No aggregation: W&B sends agg_op null and window_size 1, the last value alone.",
    ),
    Case(
        "metric-threshold-max-gte",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('acc').max(10).gte(0.95))",
        "WEBHOOK_RUN",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "acc", "agg": "MAX", "window": 10, "cmp": "$gte", "threshold": 0.95},
        },
        N_WEBHOOK_RUN,
    ),
    Case(
        "metric-threshold-min-lt",
        ENTITY,
        "OnRunMetric(scope=W_TEAM, filter=RunEvent.metric('lr').min(5) < 0.0001)",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "lr", "agg": "MIN", "window": 5, "cmp": "$lt", "threshold": 0.0001},
        },
        N_NONE,
    ),
    Case(
        "metric-threshold-avg-lte-name",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, "
        "filter=(RunEvent.metric('acc').mean(5) <= 0.3) & RunEvent.name.contains('sweep'))",
        "SLACK_WARN",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": run({"display_name": {"$contains": "sweep"}}),
            "metric": {"name": "acc", "agg": "AVERAGE", "window": 5, "cmp": "$lte", "threshold": 0.3},
        },
        N_SLACK_WARN,
        note="RunEvent.name is sent as display_name, which is this product's name too.",
    ),
    Case(
        "metric-threshold-system-metric",
        ENTITY,
        "OnRunMetric(scope=W_ORG, filter=RunEvent.metric('system/gpu.0.temp').avg(3).gt(85))",
        "SLACK_ERROR",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": NO_RUN_FILTER,
            "metric": {
                "name": "system/gpu.0.temp",
                "agg": "AVERAGE",
                "window": 3,
                "cmp": "$gt",
                "threshold": 85,
            },
        },
        N_SLACK_ERROR,
    ),
    Case(
        "metric-threshold-with-legacy-copy",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunMetricFilter("
        "metric=RunEvent.metric('loss').max(4).gt(2), "
        "legacy_metric_filter=RunEvent.metric('loss').max(4).gt(2)))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "loss", "agg": "MAX", "window": 4, "cmp": "$gt", "threshold": 2},
        },
        N_NONE,
        note="The deprecated metric_filter (a JSON string) beside run_metric_filter.",
    ),
    Case(
        "metric-threshold-legacy-only",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunMetricFilter("
        "metric=RunEvent.metric('loss').avg(6).lte(0.2), "
        "legacy_metric_filter=RunEvent.metric('loss').avg(6).lte(0.2)))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "loss", "agg": "AVERAGE", "window": 6, "cmp": "$lte", "threshold": 0.2},
        },
        N_NONE,
        transform=drop_run_metric_filter,
        note="Derived from the library's output by deleting run_metric_filter, leaving only the "
        "legacy metric_filter that older clients sent.",
    ),
    # -- run metric change --------------------------------------------------------------------
    Case(
        "metric-change-rel-increase",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').avg(10).increases_by(frac=0.25))",
        "SLACK_ERROR",
        {
            "type": "RUN_METRIC_CHANGE",
            "run_filter": NO_RUN_FILTER,
            "metric": {
                "name": "loss",
                "agg": "AVERAGE",
                "current_window": 10,
                "prior_window": 10,
                "amount": 0.25,
                "change_type": "RELATIVE",
                "change_dir": "INCREASE",
            },
        },
        N_SLACK_ERROR,
        note="The library defaults the prior window to the current one (10), not the seed's 50.",
    ),
    Case(
        "metric-change-rel-decrease",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=MetricChangeFilter(name='acc', agg='MAX', window=5, "
        "prior_window=20, change_type='RELATIVE', change_dir='DECREASE', threshold=0.1))",
        "WEBHOOK_RUN",
        {
            "type": "RUN_METRIC_CHANGE",
            "run_filter": NO_RUN_FILTER,
            "metric": {
                "name": "acc",
                "agg": "MAX",
                "current_window": 5,
                "prior_window": 20,
                "amount": 0.1,
                "change_type": "RELATIVE",
                "change_dir": "DECREASE",
            },
        },
        N_WEBHOOK_RUN,
    ),
    Case(
        "metric-change-rel-any-last",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').changes_by(frac=0.5))",
        "NOOP",
        {
            "type": "RUN_METRIC_CHANGE",
            "run_filter": NO_RUN_FILTER,
            "metric": {
                "name": "loss",
                "current_window": 1,
                "prior_window": 1,
                "amount": 0.5,
                "change_type": "RELATIVE",
                "change_dir": "ANY",
            },
        },
        N_NONE,
    ),
    Case(
        "metric-change-abs-increase-username",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunMetricFilter(run={'username': 'ana'}, "
        "metric=RunEvent.metric('grad_norm').min(3).increases_by(diff=2)))",
        "WEBHOOK_RUN",
        {
            "type": "RUN_METRIC_CHANGE",
            "run_filter": run({"username": {"$eq": "ana"}}),
            "metric": {
                "name": "grad_norm",
                "agg": "MIN",
                "current_window": 3,
                "prior_window": 3,
                "amount": 2,
                "change_type": "ABSOLUTE",
                "change_dir": "INCREASE",
            },
        },
        N_WEBHOOK_RUN,
    ),
    Case(
        "metric-change-abs-decrease-last",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').decreases_by(diff=1.5))",
        "SLACK_ERROR",
        {
            "type": "RUN_METRIC_CHANGE",
            "run_filter": NO_RUN_FILTER,
            "metric": {
                "name": "loss",
                "current_window": 1,
                "prior_window": 1,
                "amount": 1.5,
                "change_type": "ABSOLUTE",
                "change_dir": "DECREASE",
            },
        },
        N_SLACK_ERROR,
    ),
    Case(
        "metric-change-abs-any",
        ENTITY,
        "OnRunMetric(scope=W_TEAM, filter=MetricChangeFilter(name='acc', agg='MIN', window=4, "
        "prior_window=8, change_type='ABSOLUTE', change_dir='ANY', threshold=0.05))",
        "NOOP",
        {
            "type": "RUN_METRIC_CHANGE",
            "run_filter": NO_RUN_FILTER,
            "metric": {
                "name": "acc",
                "agg": "MIN",
                "current_window": 4,
                "prior_window": 8,
                "amount": 0.05,
                "change_type": "ABSOLUTE",
                "change_dir": "ANY",
            },
        },
        N_NONE,
    ),
    # -- run metric z-score -------------------------------------------------------------------
    Case(
        "metric-zscore-increase",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').zscore(30) > 3)",
        "SLACK_ERROR",
        {
            "type": "RUN_METRIC_ZSCORE",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "loss", "window": 30, "threshold": 3, "change_dir": "INCREASE"},
        },
        N_SLACK_ERROR,
    ),
    Case(
        "metric-zscore-decrease",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('acc').zscore(50) < -2.5)",
        "NOOP",
        {
            "type": "RUN_METRIC_ZSCORE",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "acc", "window": 50, "threshold": 2.5, "change_dir": "DECREASE"},
        },
        N_NONE,
    ),
    Case(
        "metric-zscore-any",
        ENTITY,
        "OnRunMetric(scope=W_ORG, filter=abs(RunEvent.metric('loss').zscore(20)) > 4)",
        "WEBHOOK_RUN",
        {
            "type": "RUN_METRIC_ZSCORE",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "loss", "window": 20, "threshold": 4, "change_dir": "ANY"},
        },
        N_WEBHOOK_RUN,
    ),
    Case(
        "metric-zscore-defaults",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=MetricZScoreFilter(name='loss'))",
        "NOOP",
        {
            "type": "RUN_METRIC_ZSCORE",
            "run_filter": NO_RUN_FILTER,
            "metric": {"name": "loss", "window": 30, "threshold": 3.0, "change_dir": "ANY"},
        },
        N_NONE,
    ),
    # -- run state ----------------------------------------------------------------------------
    Case(
        "run-state-failed",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq('failed'))",
        "SLACK_ERROR",
        {"type": "RUN_STATE", "run_filter": NO_RUN_FILTER, "states": ["failed", "crashed"]},
        N_SLACK_ERROR,
        note="W&B's FAILED covers this product's failed and crashed (SPEC section 3).",
    ),
    Case(
        "run-state-finished-running",
        ENTITY,
        "OnRunState(scope=W_TEAM, filter=RunEvent.state.in_(['running', 'finished']))",
        "WEBHOOK_RUN",
        {"type": "RUN_STATE", "run_filter": NO_RUN_FILTER, "states": ["finished", "running"]},
        N_WEBHOOK_RUN,
        note="The library sorts the states.",
    ),
    Case(
        "run-state-crashed-alias",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq(ReportedRunState.CRASHED))",
        "NOOP",
        {"type": "RUN_STATE", "run_filter": NO_RUN_FILTER, "states": ["failed", "crashed"]},
        N_NONE,
        note="The library's CRASHED is an alias of FAILED.",
    ),
    Case(
        "run-state-all-name-regex",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.in_(['running', 'finished', 'failed'])"
        " & RunEvent.name.matches_regex('^train-'))",
        "WEBHOOK_RUN",
        {
            "type": "RUN_STATE",
            "run_filter": run({"display_name": {"$regex": "^train-"}}),
            "states": ["failed", "crashed", "finished", "running"],
        },
        N_WEBHOOK_RUN,
    ),
    # -- run filters ----------------------------------------------------------------------------
    Case(
        "run-filter-name-eq-or-regex",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq('finished') & "
        "((RunEvent.name == 'baseline') | RunEvent.name.matches_regex('^sweep-')))",
        "NOOP",
        {
            "type": "RUN_STATE",
            "run_filter": run(
                {"$or": [{"display_name": {"$eq": "baseline"}}, {"display_name": {"$regex": "^sweep-"}}]}
            ),
            "states": ["finished"],
        },
        N_NONE,
    ),
    Case(
        "run-filter-name-in-nin",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq('failed') & "
        "(RunEvent.name.in_(['a', 'b']) & RunEvent.name.not_in(['c'])))",
        "NOOP",
        {
            "type": "RUN_STATE",
            "run_filter": run(
                {"display_name": {"$in": ["a", "b"]}}, {"display_name": {"$nin": ["c"]}}
            ),
            "states": ["failed", "crashed"],
        },
        N_NONE,
    ),
    Case(
        "run-filter-name-not-contains",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').gt(10) & "
        "~RunEvent.name.contains('debug'))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": run({"$not": {"display_name": {"$contains": "debug"}}}),
            "metric": {"name": "loss", "window": 1, "cmp": "$gt", "threshold": 10},
        },
        N_NONE,
    ),
    Case(
        "run-filter-name-exists-ne",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').gte(10) & "
        "(RunEvent.name.exists() & (RunEvent.name != 'scratch')))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": run(
                {"display_name": {"$exists": True}}, {"display_name": {"$ne": "scratch"}}
            ),
            "metric": {"name": "loss", "window": 1, "cmp": "$gte", "threshold": 10},
        },
        N_NONE,
    ),
    Case(
        "run-filter-tags",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').lt(0.01) & "
        "FilterExpr(field='tags', op=In(val=['sweep', 'prod'])))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": run({"tags": {"$in": ["sweep", "prod"]}}),
            "metric": {"name": "loss", "window": 1, "cmp": "$lt", "threshold": 0.01},
        },
        N_NONE,
    ),
    Case(
        "run-filter-config-value",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunMetricFilter(run={'config.lr.value': {'$lte': 0.01}}, "
        "metric=RunEvent.metric('loss').lte(0.5)))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": run({"config.lr": {"$lte": 0.01}}),
            "metric": {"name": "loss", "window": 1, "cmp": "$lte", "threshold": 0.5},
        },
        N_NONE,
        note="W&B stores each config key as {value, desc} and filters on config.KEY.value; this "
        "product's run filter reads config.KEY.",
    ),
    Case(
        "run-filter-config-plain",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunStateFilter(run={'config.optimizer': 'adam'}, "
        "state=RunEvent.state.eq('finished')))",
        "NOOP",
        {
            "type": "RUN_STATE",
            "run_filter": run({"config.optimizer": {"$eq": "adam"}}),
            "states": ["finished"],
        },
        N_NONE,
    ),
    Case(
        "run-filter-wandb-field-names",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunStateFilter(run={'displayName': {'$regex': '^bert'}, "
        "'name': 'r1a2b3', 'state': 'failed'}, state=RunEvent.state.eq('failed')))",
        "NOOP",
        {
            "type": "RUN_STATE",
            "run_filter": run(
                {"display_name": {"$regex": "^bert"}},
                {"run_id": {"$eq": "r1a2b3"}},
                {"state": {"$eq": "failed"}},
            ),
            "states": ["failed", "crashed"],
        },
        N_NONE,
        note="W&B's run-table names: displayName is the run's name, name is the run's id.",
    ),
    Case(
        "run-filter-nested-mapping",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').avg(5).gt(1) & "
        "~(FilterExpr(field='config.batch.value', op={'$gt': 64}) | "
        "FilterExpr(field='username', op=Not(expr=In(val=['ana', 'bo'])))))",
        "NOOP",
        {
            "type": "RUN_METRIC_THRESHOLD",
            "run_filter": run(
                {
                    "$nor": [
                        {"config.batch": {"$gt": 64}},
                        {"username": {"$not": {"$in": ["ana", "bo"]}}},
                    ]
                }
            ),
            "metric": {"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 1},
        },
        N_NONE,
    ),
    # -- what this product cannot take --------------------------------------------------------
    Case(
        "refuse-aria-action",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq('failed'))",
        "ARIA",
        refused={"by": "import", "path": "input.triggeredActionType", "reason": "ARIA"},
        note="W&B's ARIA action sends a prompt to W&B's own assistant; nothing here to send it to.",
    ),
    Case(
        "refuse-size-operator",
        REGISTRY_COLLECTION,
        "OnAddArtifactTag(scope=W_PORTFOLIO, filter=FilterExpr(field='tag', op=Size(val=2)))",
        "WEBHOOK",
        refused={"by": "import", "path": "input.eventFilter.$or[0].$and[0].tag.$size", "reason": "$size"},
        note="The library's $size is not in this product's expression language (SPEC section 4).",
    ),
    Case(
        "refuse-all-operator",
        REGISTRY_COLLECTION,
        "OnAddArtifactTag(scope=W_PORTFOLIO, filter=FilterExpr(field='tag', op=All(val=['a', 'b'])))",
        "WEBHOOK",
        refused={"by": "import", "path": "input.eventFilter.$or[0].$and[0].tag.$all", "reason": "$all"},
        note="The library's $all is not in this product's expression language (SPEC section 4).",
    ),
    Case(
        "refuse-lookaround-regex",
        REGISTRY_COLLECTION,
        "OnAddArtifactAlias(scope=W_PORTFOLIO, filter=ArtifactEvent.alias.matches_regex('^(?!tmp-).*'))",
        "WEBHOOK",
        refused={
            "by": "import",
            "path": "input.eventFilter.$or[0].$and[0].alias.$regex",
            "reason": "look-around",
        },
        note="Patterns here are Rust regex syntax (linear time): no look-around, no backreferences.",
    ),
    Case(
        "refuse-run-filter-summary-metric",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').gt(1) & "
        "FilterExpr(field='summary_metrics.acc', op={'$gt': 0.9}))",
        "NOOP",
        refused={
            "by": "import",
            "path": "input.eventFilter.run_filter.$and[0].summary_metrics.acc",
            "reason": "summary_metrics.acc",
        },
        note="Run filters here see display_name, run_id, username, state, tags and config.KEY; "
        "W&B's run summary is not part of this product's run events.",
    ),
    Case(
        "refuse-run-filter-group",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunStateFilter(run={'group': 'exp-1'}, "
        "state=RunEvent.state.eq('finished')))",
        "NOOP",
        refused={"by": "import", "path": "input.eventFilter.run_filter.$and[0].group", "reason": "group"},
    ),
    Case(
        "refuse-run-state-empty",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.in_([]))",
        "NOOP",
        refused={"by": "import", "path": "input.eventFilter.run_state_filter.states", "reason": "at least one"},
        note="The library accepts an empty state list; an automation that can never fire is refused.",
    ),
    Case(
        "refuse-window-too-large",
        PROJECT,
        "OnRunMetric(scope=W_PROJECT, filter=RunEvent.metric('loss').avg(5000).gt(1))",
        "NOOP",
        refused={
            "by": "import",
            "path": "input.eventFilter.run_metric_filter.threshold_filter.window_size",
            "reason": "1000",
        },
        note="W&B takes any positive window; windows here hold at most 1000 values.",
    ),
    Case(
        "refuse-unmapped-integration",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq('failed'))",
        "WEBHOOK_RUN",
        refused={
            "by": "import",
            "path": "input.triggeredActionConfig.genericWebhookActionInput.integrationID",
            "reason": WEBHOOK_ID,
        },
        integrations={},
        note="Imported strictly (the API's import route): every integration id must be mapped.",
    ),
    Case(
        "refuse-name-too-long",
        PROJECT,
        "OnRunState(scope=W_PROJECT, filter=RunEvent.state.eq('failed'))",
        "NOOP",
        refused={"by": "model", "path": "name", "reason": "128"},
        automation_name="refuse-name-too-long-" + "x" * 120,
        note="W&B allows names up to 255 characters, this product 128; the importer copies the "
        "name and the model's validation refuses it.",
    ),
    Case(
        "refuse-update-artifact-alias",
        REGISTRY_COLLECTION,
        "CreateFilterTriggerInput(triggering_event_type='UPDATE_ARTIFACT_ALIAS', ...)",
        "NOOP",
        refused={"by": "import", "path": "input.triggeringEventType", "reason": "UPDATE_ARTIFACT_ALIAS"},
        raw_input=lambda: generated_input(
            "UPDATE_ARTIFACT_ALIAS", "NO_OP", {"no_op_action_input": {"no_op": True}},
            "refuse-update-artifact-alias",
        ),
        note="Legacy: prepare_to_create refuses it, the library's generated input type still has it.",
    ),
    Case(
        "refuse-weave-metric-threshold",
        PROJECT,
        "CreateFilterTriggerInput(triggering_event_type='WEAVE_METRIC_THRESHOLD', ...)",
        "NOOP",
        refused={"by": "import", "path": "input.triggeringEventType", "reason": "WEAVE_METRIC_THRESHOLD"},
        raw_input=lambda: generated_input(
            "WEAVE_METRIC_THRESHOLD", "NO_OP", {"no_op_action_input": {"no_op": True}},
            "refuse-weave-metric-threshold",
        ),
        note="In the library's generated enum only; no event class builds it. Its filter here is "
        "made up, since the library defines none.",
    ),
    Case(
        "refuse-queue-job",
        REGISTRY_COLLECTION,
        "CreateFilterTriggerInput(triggered_action_type='QUEUE_JOB', ...)",
        "NOOP",
        refused={"by": "import", "path": "input.triggeredActionType", "reason": "QUEUE_JOB"},
        raw_input=lambda: generated_input(
            "ADD_ARTIFACT_ALIAS",
            "QUEUE_JOB",
            {"queue_job_action_input": QueueJobActionInput(queue_id="UnVuUXVldWU6MQ==", template="{}")},
            "refuse-queue-job",
        ),
        note="Legacy Launch action: prepare_to_create refuses it, the generated input type has it.",
    ),
    Case(
        "refuse-push-notification",
        REGISTRY_COLLECTION,
        "CreateFilterTriggerInput(triggered_action_type='PUSH_NOTIFICATION', ...)",
        "NOOP",
        refused={"by": "import", "path": "input.triggeredActionType", "reason": "PUSH_NOTIFICATION"},
        raw_input=lambda: generated_input(
            "ADD_ARTIFACT_ALIAS",
            "PUSH_NOTIFICATION",
            {
                "push_notification_action_input": PushNotificationActionInput(
                    user_id="VXNlcjox", title="t", body="b"
                )
            },
            "refuse-push-notification",
        ),
        note="prepare_to_create refuses it, the generated input type has it.",
    ),
]


def write_if_changed(path: Path, data: Any) -> bool:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main() -> int:
    if wandb.__version__ != WANDB_VERSION:
        print(f"expected wandb {WANDB_VERSION}, found {wandb.__version__}", file=sys.stderr)
        return 1
    EXPECTED.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in CASES]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        print(f"duplicate case names: {sorted(dupes)}", file=sys.stderr)
        return 1

    changed = 0
    for case in CASES:
        doc: dict[str, Any] = {"scope": case.scope}
        integrations = case.integrations if case.integrations is not None else integrations_for(case.action)
        if integrations is not None:
            doc["integrations"] = integrations
        doc["input"] = dump_input(case)
        changed += write_if_changed(OUT / f"{case.name}.json", doc)
        changed += write_if_changed(EXPECTED / f"{case.name}.json", expected_for(case))

    # Drop fixtures of cases that were removed or renamed.
    keep = {f"{case.name}.json" for case in CASES}
    for directory in (OUT, EXPECTED):
        for path in directory.glob("*.json"):
            if path.name not in keep:
                path.unlink()
                changed += 1
    print(f"{len(CASES)} cases, {changed} files written or removed under {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
