"""Reading and writing tokenizer files; `load` tells the formats apart by their content."""

from __future__ import annotations

import os
from pathlib import Path

from . import _core
from .core import PathLike, Tokenizer

FORMATS = ("bpe",)


def _read_head(path: Path, n: int = 256) -> bytes:
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a tokenizer file")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None


def load(path: PathLike) -> Tokenizer:
    """Load a tokenizer file, recognising its format by content.

    >>> import bpe
    >>> bpe.load("no/such/file.bpe")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no/such/file.bpe: no such file
    """
    path = Path(os.fspath(path))
    head = _read_head(path)
    if head.startswith(b"bpe-tokenizer"):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 at byte offset {e.start}") from None
        return Tokenizer(_core.CoreTokenizer.from_bpe_text(text, str(path)))
    raise ValueError(f"{path}: not a tokenizer file this version reads (expected a .bpe file)")


def save(tok: Tokenizer, path: PathLike, format: str = "bpe") -> Path:
    """Write `tok` to `path` in `format`, atomically (a temporary file, then a rename)."""
    path = Path(os.fspath(path))
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    tok._core.save_bpe(str(path))
    return path
