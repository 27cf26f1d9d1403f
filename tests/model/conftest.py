"""Shared fixtures for the model tests; `bpe_gpt` is imported from model/ when it is not installed."""

import pathlib
import sys

import numpy as np
import pytest
import torch

MODEL_DIR = pathlib.Path(__file__).resolve().parents[2] / "model"
try:
    import bpe_gpt  # noqa: F401
except ImportError:
    sys.path.insert(0, str(MODEL_DIR))

from bpe_gpt.data import write_shard  # noqa: E402

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


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)  # tiny models: threads cost more than they give


@pytest.fixture
def shards(tmp_path):
    """Three uint16 shards of a learnable stream (30,000 tokens)."""
    tokens = pattern_tokens(30_000)
    directory = tmp_path / "shards"
    for i, part in enumerate(np.array_split(tokens, 3)):
        write_shard(directory, i, part, N_VOCAB, EOT, FINGERPRINT)
    return directory, tokens
