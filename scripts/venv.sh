#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the locked dependencies (hash-checked), then Andre.
set -euo pipefail
venv=${1:-.venv}
py=$(command -v python3.11 || true)
if [ -z "$py" ]; then
  bash scripts/system-deps.sh python3.11:python3.11
  py=$(command -v python3.11)
fi
if [ ! -x "$venv/bin/python" ]; then
  if ! "$py" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    bash scripts/system-deps.sh no-such-command-venv:python3.11-venv
    "$py" -m venv "$venv"
  fi
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" --require-hashes --no-deps -r requirements.lock
"${pip[@]}" --no-deps --no-build-isolation -e . 2>/dev/null || "${pip[@]}" --no-deps -e .
