#!/usr/bin/env bash
# Create .venv and install bpe (built from source in release mode), the model package and the
# test dependencies into it; `setup.sh --main` leaves out the test dependencies (all that
# scripts/main.sh needs). Safe to run again: it only redoes what changed.
#
# Disk: PyPI's torch for Linux is the CUDA build, about 5 GB installed. So that the whole setup
# fits where disk is short, pip keeps no cache (a cached wheel is a second copy of it), and on a
# machine with no NVIDIA GPU torch's dependencies go in one at a time (pip then holds one
# package's wheels at once, not all of them) and without triton (1 GB of GPU compilers that
# nothing here uses without a GPU; torch.compile is off unless asked for).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_NO_CACHE_DIR=1
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# What both installs below need, first, so that the two never write the same package.
python -m pip install -q "maturin>=1.5,<2" numpy tqdm packaging

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 || [ -e /dev/nvidia0 ]; }

install_torch() {
    if has_gpu; then
        python -m pip install -q "torch>=2.1"
        return
    fi
    python -m pip install -q --no-deps "torch>=2.1"
    # torch's own requirements, as its metadata gives them for this machine, less triton.
    python - <<'PYEOF' > .venv/torch-deps.txt
import importlib.metadata as md
from packaging.requirements import Requirement
for line in md.requires("torch") or []:
    req = Requirement(line)
    if req.name.lower() != "triton" and (req.marker is None or req.marker.evaluate({"extra": ""})):
        print(str(req).split(";")[0].strip())
PYEOF
    while IFS= read -r req; do
        python -m pip install -q "$req"
    done < .venv/torch-deps.txt
}

# Side by side: pip fetches PyTorch (gigabytes: mostly network) while the Rust core compiles
# (minutes of CPU). torch and matplotlib are model/pyproject.toml's dependencies besides bpe.
{ install_torch && python -m pip install -q matplotlib; } &
torch_job=$!
python -m pip install -q . || { kill "$torch_job"; exit 1; }
wait "$torch_job"
python -m pip install -q -e ./model
if [ "${1:-}" != "--main" ]; then
    python -m pip install -q ".[test]"
fi
