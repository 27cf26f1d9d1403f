"""What the model tests share: `bpe_gpt` from model/ when it is not installed, and a small token stream.

(A module of its own rather than conftest.py, whose name tests/conftest.py already takes.)"""

import pathlib
import sys

import numpy as np

MODEL_DIR = pathlib.Path(__file__).resolve().parents[2] / "model"
try:
    import bpe_gpt  # noqa: F401
except ImportError:
    sys.path.insert(0, str(MODEL_DIR))

FINGERPRINT = "f" * 64
N_VOCAB = 100
EOT = 99


def pattern_tokens(n: int, seed: int = 0) -> np.ndarray:
    """A learnable token stream: short random 'words' repeated in random order, EOT between documents."""
    rng = np.random.default_rng(seed)
    words = [rng.integers(0, EOT, size=rng.integers(2, 6)) for _ in range(20)]
    out, total = [], 0
    while total < n:
        w = words[rng.integers(len(words))] if rng.random() > 0.02 else np.array([EOT])
        out.append(w)
        total += len(w)
    return np.concatenate(out)[:n]
