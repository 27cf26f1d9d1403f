#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the main job: the whole pipeline on the Python
# standard library's own source: train a tokenizer, encode shards, train a small GPT-2 (on the GPU
# if there is one), report validation loss and bits per byte next to gzip -9 and xz -9, and sample.
# The whole command, setup included, ends within MAIN_SECONDS (840, 14 minutes): the model trains
# for what time the other stages leave. Extra arguments go to `bpe-gpt pipeline` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh --main
. .venv/bin/activate
bpe-gpt pipeline --deadline $((start + ${MAIN_SECONDS:-840})) "$@"
