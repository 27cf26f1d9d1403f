#!/usr/bin/env bash
# Create .venv and install bpe (built from source in release mode), the model package and the
# test dependencies into it. Safe to run again: it only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "maturin>=1.5,<2"
python -m pip install -q ".[test]"
python -m pip install -q -e ./model
