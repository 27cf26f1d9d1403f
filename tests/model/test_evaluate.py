import gzip
import lzma
import math
import os

import numpy as np
import pytest
import torch

from bpe_gpt.data import TokenStream
from bpe_gpt.evaluate import compressor_bpb, evaluate, heldout_bytes, token_bytes_table
from bpe_gpt.model import GPT, GPTConfig
from model_helpers import N_VOCAB


class FakeTokenizer:
    """Token i decodes to (i % 3) + 1 bytes."""

    n_vocab = N_VOCAB

    def decode_bytes(self, ids):
        return b"".join(bytes([65 + i % 26]) * (i % 3 + 1) for i in ids)


def test_bits_per_byte_counts_every_target_once(shards):
    stream = TokenStream(shards[0])
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("tiny", vocab_size=N_VOCAB))
    table = token_bytes_table(FakeTokenizer())
    lengths = np.array([len(b) for b in table])
    lo, hi = 29_000, 30_000
    got = evaluate(model, stream, lo, hi, lengths, batch_size=3)
    # by hand: each target token once, context restarting every block_size tokens
    tokens = torch.from_numpy(stream.read(lo, hi - lo))
    nll = 0.0
    with torch.no_grad():
        for s in range(0, len(tokens) - 1, 32):
            x, y = tokens[s : s + 32][None], tokens[s + 1 : s + 33][None]
            x = x[:, : y.shape[1]]
            nll += model(x, y, reduction="none")[1].double().sum().item()
    n_bytes = int(lengths[tokens[1:].numpy()].sum())
    assert got["tokens"] == hi - lo - 1 and got["bytes"] == n_bytes
    assert got["loss"] == pytest.approx(nll / (hi - lo - 1), rel=1e-6)
    assert got["bpb"] == pytest.approx(nll / math.log(2) / n_bytes, rel=1e-6)
    # the compressors see exactly those bytes
    assert len(heldout_bytes(stream, lo, hi, table)) == n_bytes
    assert evaluate(model, stream, lo, hi, None, max_tokens=100)["tokens"] == 100


def test_compressor_bits_per_byte():
    text = b"def f(x):\n    return x + 1\n" * 200
    got = compressor_bpb(text)
    assert got["gzip -9"] == 8 * len(gzip.compress(text, 9, mtime=0)) / len(text)
    assert got["xz -9e"] == 8 * len(lzma.compress(text, preset=9 | lzma.PRESET_EXTREME)) / len(text)
    assert got["xz -9e"] < 1 and compressor_bpb(os.urandom(4096))["gzip -9"] > 7.9
    with pytest.raises(ValueError):
        compressor_bpb(b"")
