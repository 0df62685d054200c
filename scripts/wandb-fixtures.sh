#!/usr/bin/env bash
# Regenerate tests/fixtures/wandb/*.json from the real W&B client library.
#
# The fixtures are committed, so tests never need wandb; run this only to refresh or extend them.
# Idempotent: the venv is reused while it already holds the pinned version, and the generator
# rewrites every fixture from scratch.
set -euo pipefail

WANDB_VERSION="0.31.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-wandb"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
# Installing only when the pinned version is missing keeps a rerun fast (no resolver, no network).
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('wandb') != '$WANDB_VERSION')" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "wandb==$WANDB_VERSION"
fi

# No network, no login, no telemetry: the generator only builds and serialises inputs offline.
export WANDB_MODE=offline WANDB_SILENT=true WANDB_DISABLE_SERVICE=true
exec "$venv/bin/python" "$root/scripts/wandb_fixtures.py" "$@"
