#!/usr/bin/env bash
# Create or reuse .venv with the pinned stack and mixpath_lab in editable mode (with the dev and ray extras).
# Re-installs only when requirements.lock, settings.ini or setup.py changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.mixpath-stamp
want=$(cat requirements.lock settings.ini setup.py | sha1sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "[env] setting up .venv (pinned stack from requirements.lock; first run takes a few minutes)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip >&2
.venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev,ray]" >&2
echo "$want" > "$stamp"
echo "[env] ready: .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
