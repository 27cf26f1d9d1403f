#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run all the tests: the Rust unit tests and pytest
# (tests/ and the docstring examples). BPE_EXAMPLES sets hypothesis examples per test (300 here;
# a deep local run: BPE_EXAMPLES=100000 bash scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
cargo test --quiet
python -m pytest -q "$@"
