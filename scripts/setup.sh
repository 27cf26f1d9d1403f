#!/usr/bin/env bash
# Create .venv and install bpe (built from source in release mode), the model package and the
# test dependencies into it; `setup.sh --main` leaves out the test dependencies (all that
# scripts/main.sh needs). Safe to run again: it only redoes what changed.
#
# Disk: PyPI's torch for Linux is the CUDA build, about 6 GB installed. So that setup fits where
# disk is short, pip keeps no cache (a cached wheel is a second copy of it), and torch's packages
# go in one pip call each, dependencies first, so that pip holds one wheel at a time, not 3 GB.
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

install_torch() {
    # (Called as the left side of &&, where set -e does not act: each step checks itself.)
    if python -m pip show -q torch >/dev/null 2>&1; then
        return
    fi
    # What pip would install for torch (from the index's metadata; no wheel is fetched), in an
    # order where every package comes after its own dependencies, torch last.
    python -m pip install -q --dry-run --ignore-installed --report .venv/torch-plan.json "torch>=2.1" || return 1
    python - .venv/torch-plan.json > .venv/torch-plan.txt <<'PYEOF' || return 1
import json, sys
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
with open(sys.argv[1]) as f:
    plan = {canonicalize_name(p["metadata"]["name"]): p["metadata"] for p in json.load(f)["install"]}
order = []
def visit(name, path=()):
    if name in order or name in path:
        return
    for line in plan[name].get("requires_dist") or []:
        dep = canonicalize_name(Requirement(line).name)
        if dep in plan:
            visit(dep, path + (name,))
    order.append(name)
for name in plan:
    visit(name)
for name in order:
    print(f"{plan[name]['name']}=={plan[name]['version']}")
PYEOF
    while IFS= read -r spec; do
        python -m pip install -q --no-deps "$spec" || return 1
    done < .venv/torch-plan.txt
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
