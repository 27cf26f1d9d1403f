#!/usr/bin/env bash
# Create .venv and install bpe (built from source in release mode), the model package and the
# test dependencies into it; `setup.sh --main` leaves out the test dependencies (all that
# scripts/main.sh needs). Safe to run again: it only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# What both installs below need, first, so that the two never write the same package.
python -m pip install -q "maturin>=1.5,<2" numpy tqdm
# Side by side: pip fetches PyTorch (gigabytes: mostly network) while the Rust core compiles
# (minutes of CPU). torch and matplotlib are model/pyproject.toml's dependencies besides bpe.
python -m pip install -q "torch>=2.1" matplotlib &
torch_job=$!
python -m pip install -q . || { kill "$torch_job"; exit 1; }
wait "$torch_job"
python -m pip install -q -e ./model
if [ "${1:-}" != "--main" ]; then
    python -m pip install -q ".[test]"
fi
