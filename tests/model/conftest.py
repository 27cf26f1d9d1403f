"""Fixtures of the model tests."""

import numpy as np
import pytest
import torch

from model_helpers import EOT, FINGERPRINT, N_VOCAB, pattern_tokens

from bpe_gpt.data import write_shard


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
