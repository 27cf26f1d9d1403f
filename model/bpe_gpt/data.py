"""Token shards written by `bpe` (`tok.write_shards`, `bpe encode`), read by memmap.

A shard directory holds `shard_000000.bin`, `shard_000001.bin`, ... (raw
little-endian token ids) each beside a JSON sidecar that gives its dtype, token
count and the fingerprint of the tokenizer that wrote it. `TokenStream` joins
the shards into one sequence; its tail (`val_fraction` of the tokens) is held
out for validation. `WindowSampler` draws training windows of block_size + 1
tokens from the rest: every window start once per epoch in a seeded random
order, the ranks of a DDP job taking disjoint slices of each global batch.

>>> stream = TokenStream("runs/pipeline/shards", fingerprint="0" * 64)   # doctest: +SKIP
Traceback (most recent call last):
...
bpe_gpt.data.ShardError: runs/pipeline/shards/shard_000000.json: written by tokenizer 3f1a..., not by the one in use 0000...
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import torch

SHARD_FORMAT = "bpe-shard"
DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


class ShardError(ValueError):
    """A shard directory that is missing, malformed, or written by another tokenizer."""


def read_sidecar(bin_path: pathlib.Path) -> dict:
    """The sidecar of one shard, checked against the format and the file's size."""
    meta_path = bin_path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ShardError(f"{meta_path}: missing sidecar for {bin_path.name}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ShardError(f"{meta_path}: not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ShardError(f"{meta_path}: not a {SHARD_FORMAT} sidecar (a JSON {type(meta).__name__}, not an object)")
    if meta.get("format") != SHARD_FORMAT or meta.get("version") != 1:
        raise ShardError(f"{meta_path}: not a {SHARD_FORMAT} version 1 sidecar")
    if meta.get("dtype") not in DTYPES:
        raise ShardError(f"{meta_path}: dtype {meta.get('dtype')!r} is not one of {', '.join(DTYPES)}")
    count = meta.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ShardError(f"{meta_path}: count {count!r} is not a number of tokens")
    size = bin_path.stat().st_size
    if size != meta["count"] * DTYPES[meta["dtype"]].itemsize:
        raise ShardError(f"{bin_path}: {size} bytes, but the sidecar says {meta['count']} {meta['dtype']} tokens")
    return meta


class TokenStream:
    """All shards of a directory as one sequence of token ids.

    Args:
        directory: where the shards are.
        fingerprint: the fingerprint of the tokenizer in use; every shard must
            carry the same one (ShardError otherwise). None skips the check.
    """

    def __init__(self, directory: str | pathlib.Path, fingerprint: str | None = None) -> None:
        self.directory = pathlib.Path(directory)
        paths = sorted(self.directory.glob("shard_*.bin"))
        if not paths:
            raise ShardError(f"{self.directory}: no shard_*.bin files")
        # The shards are numbered from 0 without gaps: a missing one would silently join the
        # text on either side of it.
        bins = {p.stem for p in paths}
        for i, name in enumerate(sorted(bins | {p.stem for p in self.directory.glob("shard_*.json")})):
            if name != f"shard_{i:06d}":
                raise ShardError(f"{self.directory}: shard_{i:06d}.bin is missing (the shards go up to {name})")
            if name not in bins:
                raise ShardError(f"{self.directory}: {name}.bin is missing (its sidecar is there)")
        metas = [read_sidecar(p) for p in paths]
        first = metas[0]
        for path, meta in zip(paths, metas):
            for key in ("n_vocab", "eot_token", "tokenizer_fingerprint"):
                if meta.get(key) != first.get(key):
                    raise ShardError(f"{path}: {key} {meta.get(key)!r} differs from {paths[0].name}'s {first.get(key)!r}")
        if fingerprint is not None and first["tokenizer_fingerprint"] != fingerprint:
            raise ShardError(
                f"{paths[0].with_suffix('.json')}: written by tokenizer {first['tokenizer_fingerprint']}, "
                f"not by the one in use {fingerprint}; re-encode the corpus with this tokenizer"
            )
        self.n_vocab: int = first["n_vocab"]
        self.eot_token: int | None = first["eot_token"]
        self.fingerprint: str = first["tokenizer_fingerprint"]
        # Empty shards cannot be memory-mapped; they hold nothing anyway.
        self.shards = [
            np.memmap(p, dtype=DTYPES[m["dtype"]], mode="r", shape=(m["count"],))
            for p, m in zip(paths, metas)
            if m["count"]
        ]
        self.offsets = np.cumsum([0] + [len(s) for s in self.shards])  # start of each shard in the stream

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) as int64, across shard boundaries if need be."""
        if start < 0 or start + length > len(self):
            raise IndexError(f"tokens [{start}, {start + length}) outside a stream of {len(self)}")
        out = np.empty(length, dtype=np.int64)
        i = int(np.searchsorted(self.offsets, start, side="right")) - 1
        done = 0
        while done < length:
            lo = start + done - int(self.offsets[i])
            take = min(length - done, len(self.shards[i]) - lo)
            out[done : done + take] = self.shards[i][lo : lo + take]
            done += take
            i += 1
        return out

    def split(self, val_fraction: float) -> int:
        """Where validation starts: the last `val_fraction` of the tokens are held out."""
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        return len(self) - max(2, int(len(self) * val_fraction))


class WindowSampler:
    """Random training windows without replacement, disjoint across DDP ranks.

    Windows of block_size + 1 tokens start every block_size tokens in
    [lo, hi). Each epoch visits every start once, in the order of a
    permutation seeded by (seed, epoch). A global batch is the next
    batch_size * world_size starts; rank r takes the r-th slice, so a DDP job
    sees exactly the windows that one process with the whole batch would.
    The position (epoch, cursor) is saved and restored for exact resume.

    Args:
        stream: the tokens.
        lo, hi: the token range to draw from (the training split).
        block_size: tokens of context; a window is block_size + 1 tokens (inputs and shifted targets).
        seed: seeds the permutations; the same on every rank.
        rank, world_size: this process's place in a DDP job.
    """

    def __init__(self, stream: TokenStream, lo: int, hi: int, block_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.stream, self.block_size = stream, block_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.n_windows = max(0, (hi - lo - 1) // block_size)
        self.lo = lo
        self.epoch, self.cursor = 0, 0
        self._order = None

    def _permutation(self) -> np.ndarray:
        if self._order is None:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = rng.permutation(self.n_windows)
        return self._order

    def next_starts(self, batch_size: int) -> np.ndarray:
        """Token offsets of this rank's next `batch_size` windows."""
        need = batch_size * self.world_size
        if need > self.n_windows:
            raise ValueError(
                f"a global batch of {need} windows of {self.block_size + 1} tokens does not fit "
                f"in {self.n_windows} windows of training data; lower the batch or the block size"
            )
        if self.cursor + need > self.n_windows:  # the rest of the epoch is too short: next epoch
            self.epoch, self.cursor, self._order = self.epoch + 1, 0, None
        mine = self._permutation()[self.cursor + self.rank * batch_size : self.cursor + (self.rank + 1) * batch_size]
        self.cursor += need
        return self.lo + mine * self.block_size

    def next_batch(self, batch_size: int, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets (batch_size, block_size) of this rank's next windows."""
        starts = self.next_starts(batch_size)
        rows = np.stack([self.stream.read(int(s), self.block_size + 1) for s in starts])  # (B, T+1)
        xy = torch.from_numpy(rows)
        if torch.device(device).type == "cuda":
            xy = xy.pin_memory().to(device, non_blocking=True)
        return xy[:, :-1], xy[:, 1:]

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "cursor": self.cursor, "n_windows": self.n_windows}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed or state["n_windows"] != self.n_windows:
            raise ValueError(
                f"data position is for seed {state['seed']} and {state['n_windows']} windows, "
                f"but this sampler has seed {self.seed} and {self.n_windows}: the data or its split changed"
            )
        self.epoch, self.cursor, self._order = state["epoch"], state["cursor"], None


def write_shard(directory: str | pathlib.Path, index: int, tokens, n_vocab: int,
                eot_token: int | None, fingerprint: str) -> pathlib.Path:
    """Write one shard and its sidecar in `bpe`'s format (for tests and hand-made data;
    `bpe` writes real corpora with `tok.write_shards`)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = "uint16" if n_vocab <= 2**16 else "uint32"
    path = directory / f"shard_{index:06d}.bin"
    array = np.asarray(tokens, dtype=DTYPES[name])
    path.write_bytes(array.tobytes())
    meta = {"format": SHARD_FORMAT, "version": 1, "dtype": name, "count": len(array),
            "n_vocab": n_vocab, "eot_token": eot_token, "tokenizer_fingerprint": fingerprint}
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path
