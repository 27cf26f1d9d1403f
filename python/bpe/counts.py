"""Word counts: the part of training that scales out.

Count pieces wherever the text lives (`count_words`, `count_files`, or `bpe count` on the command
line), add the counts up (`+`, in any order and grouping), and train from the sum: the merges are
exactly those of training on the whole corpus at once.

>>> import bpe
>>> a = bpe.count_words(["aaabdaaabac"])
>>> b = bpe.count_words(["aaab"])
>>> total = a + b
>>> len(total), total.n_bytes
(2, 15)
>>> bpe.train_from_counts(total, 260, progress=False).merges
[(97, 97), (97, 98), (256, 257)]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from . import _core
from .core import (ENDOFTEXT, PathLike, Tokenizer, TrainStats, _check_threads, _check_vocab_size, _paths, _Progress,
                   _specials, _warn_notes)


class WordCounts:
    """Distinct pre-tokenizer pieces and their counts (64-bit), with the pattern that cut them.

    Picklable (so any engine's map and reduce can carry it) and added with ``+``."""

    def __init__(self, core: _core.CoreCounts):
        self._core = core

    @property
    def pattern(self) -> str:
        return self._core.pattern

    @property
    def n_bytes(self) -> int:
        """Corpus bytes counted."""
        return self._core.n_bytes

    def __len__(self) -> int:
        return self._core.n_words

    def most_common(self, n: int = 10) -> list[tuple[bytes, int]]:
        return self._core.most_common(n)

    def __add__(self, other: "WordCounts") -> "WordCounts":
        if not isinstance(other, WordCounts):
            return NotImplemented
        return WordCounts(self._core.add(other._core))

    def __radd__(self, other):
        # sum(list_of_counts) starts from 0
        if other == 0:
            return self
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordCounts) and self._core.to_bytes() == other._core.to_bytes()

    def __reduce__(self):
        return (_from_bytes, (self._core.to_bytes(),))

    def save(self, path: PathLike) -> Path:
        """Write a ``.counts`` file atomically (versioned; a header line, then packed records)."""
        self._core.save(os.fspath(path))
        return Path(path)

    def __repr__(self) -> str:
        return f"<bpe.WordCounts words={len(self)} bytes={self.n_bytes}>"


def _from_bytes(data: bytes) -> WordCounts:
    return WordCounts(_core.CoreCounts.from_bytes(data, "<pickle>"))


def load_counts(path: PathLike) -> WordCounts:
    """Read a ``.counts`` file written by :meth:`WordCounts.save` or ``bpe count``."""
    path = Path(os.fspath(path))
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a counts file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    return WordCounts(_core.CoreCounts.from_bytes(data, str(path)))


def count_words(texts: Iterable[str], pattern: str = "gpt2", *, threads: int | None = None, progress: bool = False) -> WordCounts:
    """Count the pieces of an iterable of str (in batches, in parallel, without the GIL)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of str (a list, a generator…), not a single string")
    bar = _Progress(progress, "count", "B", True)
    try:
        counts = WordCounts(_core.count_texts(iter(texts), pattern, _check_threads(threads), bar))
    finally:
        bar.close()
    _warn_notes(counts._core.warnings)
    return counts


def count_files(
    files: Sequence[PathLike] | PathLike,
    pattern: str = "gpt2",
    *,
    threads: int | None = None,
    strict: bool = False,
    progress: bool = False,
) -> WordCounts:
    """Count the pieces of text files, streamed and counted in Rust on all threads."""
    bar = _Progress(progress, "count", "B", True)
    try:
        counts = WordCounts(_core.count_files(_paths(files), pattern, _check_threads(threads), strict, bar))
    finally:
        bar.close()
    _warn_notes(counts._core.warnings)
    return counts


def train_from_counts(
    counts: WordCounts | Sequence[PathLike] | PathLike,
    vocab_size: int,
    special_tokens: Iterable[str] | None = (ENDOFTEXT,),
    *,
    threads: int | None = None,
    progress: bool = True,
    _consume: bool = False,
) -> Tokenizer:
    """Train from counts (a :class:`WordCounts`, or ``.counts`` files to add up). The pattern is
    the one the counts were made with. (``bpe.train`` passes ``_consume=True`` for counts it made
    itself and drops: training then frees them as soon as its own copy of the words is built.)"""
    import time

    started = time.perf_counter()
    vocab_size = _check_vocab_size(vocab_size)
    if not isinstance(counts, WordCounts):
        parts = [load_counts(p) for p in _paths(counts)]
        counts = sum(parts[1:], parts[0])
    specials = _specials(special_tokens)
    _core.check_vocab_size(vocab_size, specials)
    n_bytes, replaced = counts.n_bytes, counts._core.replaced
    bar = _Progress(progress, "merge", "merges", False)
    try:
        core, merges, tokens = _core.train_counts(counts._core, vocab_size, specials, _check_threads(threads), bar, _consume)
    finally:
        bar.close()
    tok = Tokenizer(core)
    if tok.n_vocab < vocab_size:
        _warn_notes(
            [
                f"the corpus ran out of pairs to merge after {merges} merges: "
                f"the vocabulary reached {tok.n_vocab} of the {vocab_size} asked for"
            ]
        )
    tok.stats = TrainStats(time.perf_counter() - started, n_bytes, tokens, merges, tok.n_vocab, replaced)
    return tok
