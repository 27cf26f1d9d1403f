"""Validation loss, and bits per byte for the model and for gzip and xz on the same bytes.

Bits per byte = (sum of the targets' negative log-likelihood in nats) / ln 2 /
(bytes those target tokens decode to). Dividing by bytes rather than tokens
makes tokenizers of different vocabulary sizes comparable, and comparable with
general-purpose compressors, which see exactly those bytes: the decoded
validation targets, concatenated.

Each token's byte length is `len(tok.decode_bytes([id]))`; a special token
(`<|endoftext|>`) counts as the bytes it decodes to, and the compressors see
those same bytes.
"""

from __future__ import annotations

import gzip
import lzma
import math

import numpy as np
import torch

from .data import TokenStream
from .runtime import Dist, all_reduce_sum, autocast


def token_bytes_table(tok) -> list[bytes]:
    """The bytes of every token id of a `bpe.Tokenizer`."""
    return [tok.decode_bytes([i]) for i in range(tok.n_vocab)]


def _windows(lo: int, end: int, block_size: int) -> list[tuple[int, int]]:
    """(start, length) windows whose targets cover tokens lo+1 .. end-1 exactly once."""
    return [(s, min(block_size, end - 1 - s)) for s in range(lo, end - 1, block_size)]


@torch.no_grad()
def evaluate(model, stream: TokenStream, lo: int, hi: int, byte_lengths: np.ndarray | None = None,
             batch_size: int = 8, max_tokens: int | None = None, device: torch.device | None = None,
             ctx: Dist | None = None) -> dict:
    """Mean validation loss (nats per token) over the targets in stream[lo+1 : hi], and bits
    per byte if `byte_lengths` (bytes of each token id) is given.

    Args:
        model: a GPT (or a wrapper of one: DDP, compiled); put in eval mode for the call.
        stream, lo, hi: the held-out tokens.
        byte_lengths: array (n_vocab,) of each token's length in bytes.
        max_tokens: evaluate only the first this many targets (a quick estimate during training).
        ctx: with several ranks, each takes every world_size-th window and the sums are reduced.
    """
    ctx = ctx or Dist()
    raw = getattr(model, "module", model)
    raw = getattr(raw, "_orig_mod", raw)
    block_size = raw.config.block_size
    device = device or next(raw.parameters()).device
    end = hi if max_tokens is None else min(hi, lo + 1 + max_tokens)
    windows = _windows(lo, end, block_size)[ctx.rank :: ctx.world_size]
    full = [w for w in windows if w[1] == block_size]
    batches = [full[i : i + batch_size] for i in range(0, len(full), batch_size)]
    batches += [[w] for w in windows if w[1] != block_size]  # the short tail window alone
    nll = n_tokens = n_bytes = 0.0
    was_training = model.training
    model.eval()
    for batch in batches:
        rows = torch.from_numpy(np.stack([stream.read(s, n + 1) for s, n in batch])).to(device)  # (B, n+1)
        x, y = rows[:, :-1], rows[:, 1:]
        with autocast(device):
            _, loss = model(x, y, reduction="none")  # (B, n)
        nll += loss.double().sum().item()
        n_tokens += y.numel()
        if byte_lengths is not None:
            n_bytes += float(byte_lengths[y.cpu().numpy()].sum())
    model.train(was_training)
    nll, n_tokens, n_bytes = all_reduce_sum([nll, n_tokens, n_bytes], ctx, device)
    return {
        "loss": nll / max(n_tokens, 1),
        "bpb": nll / math.log(2) / n_bytes if n_bytes else None,
        "tokens": int(n_tokens),
        "bytes": int(n_bytes),
    }


def heldout_bytes(stream: TokenStream, lo: int, hi: int, table: list[bytes]) -> bytes:
    """The bytes that the validation targets stream[lo+1 : hi] decode to."""
    return b"".join(table[t] for t in stream.read(lo + 1, hi - lo - 1).tolist())


def compressor_bpb(data: bytes) -> dict[str, float]:
    """Bits per byte of gzip level 9 and of xz preset 9 | PRESET_EXTREME (`xz -9e`) on `data`."""
    if not data:
        raise ValueError("no bytes to compress")
    gz = gzip.compress(data, compresslevel=9, mtime=0)
    xz = lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    return {"gzip -9": 8 * len(gz) / len(data), "xz -9e": 8 * len(xz) / len(data)}
