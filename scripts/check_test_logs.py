"""Search every log the test suite's processes wrote for the secrets the tests use (issue 13:
"never a secret, token, API key or signature in a log line").

`scripts/test` sets AUTOMATIONS_TEST_LOGS to an empty directory before `cargo test`; every test
process guard (shared/testkit/src/process.rs `Server`, tests/support `Process`: `automations
serve`, the Lambda functions under `cargo lambda watch`, moto, mlflow) copies its output there when
it stops. Then: `python scripts/check_test_logs.py DIR`. Fails when a secret is found, naming the
log and the line, or when there are too few logs for the search to mean anything.

The secrets are the fixed credentials the tests give integrations (webhook secrets, access
tokens, MLflow tokens). API keys are made at random per test and are printed on purpose by
`automations keys create`, so they are searched for by shape only in the processes that are not
that command's output. Standard Webhooks' published example key (whsec_MfKQ...) is not a secret
and is left out.
"""

from __future__ import annotations

import pathlib
import re
import sys

SECRETS = [
    "whsec-TOPSECRET",
    "tok-TOPSECRET",
    "whsec-SERVE",
    "whsec-ROTATED",
    "whsec-AT-REST",
    "tok-AT-REST",
    "whsec-try-me",
    "tok-NOT-PRINTED",
    "whsec-ops-test-Zq8v3RkP2mW9",
    "tok-ops-test-Hx4nB7cL1sD6",
    "tok-mlflow-poller-secret",
    "tok-123",
]

# A bearer API key as `auth::issue_key` makes them (ak_ and 43 URL-safe base64 characters).
API_KEY = re.compile(r"\bak_[A-Za-z0-9_-]{40,}")


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    logs = sorted(root.glob("*.log"))
    found = []
    for log in logs:
        text = log.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            for secret in SECRETS:
                if secret in line:
                    found.append(f"{log.name}:{n}: {secret!r} in: {line[:300]}")
            if API_KEY.search(line):
                found.append(f"{log.name}:{n}: an API key in: {line[:300]}")
    minimum = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    print(f"check_test_logs: {len(logs)} logs, {sum(p.stat().st_size for p in logs)} bytes searched for "
          f"{len(SECRETS)} secrets and API keys")
    if len(logs) < minimum:
        print(f"check_test_logs: fewer than {minimum} logs: the tests did not keep their logs", file=sys.stderr)
        return 1
    for f in found:
        print(f, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
