#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the main job: the whole pipeline on the Python
# standard library's own source: train a tokenizer, encode shards, train a small GPT-2 (on the GPU
# if there is one), report validation loss and bits per byte next to gzip -9 and xz -9, and sample.
# Extra arguments go to `bpe-gpt pipeline` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
bpe-gpt pipeline "$@"
