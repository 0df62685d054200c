"""Schemathesis hooks for tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

Tests send network traffic to 127.0.0.1 only. Integrations that schemathesis creates would point
the server's deliveries (and `POST /v1/automations/{id}/test`) at whatever host it generated, so
every well-formed integration URL (and MLflow `tracking_uri`, which the server polls) is rewritten, just before the request is sent, to a closed
port on loopback. Malformed URLs are left alone: they are what the negative tests send.
"""

import re

import schemathesis

WELL_FORMED = re.compile(r"^https?://[^/?#]+")
LOOPBACK = "http://127.0.0.1:9/schemathesis"


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    for field in ("url", "tracking_uri"):
        if isinstance(body, dict) and isinstance(body.get(field), str) and WELL_FORMED.match(body[field]):
            body[field] = LOOPBACK
