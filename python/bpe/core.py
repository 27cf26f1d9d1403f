"""The `Tokenizer` facade over the compiled core, with argument checks and progress bars."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Collection, Iterable, Literal, Sequence, Union

from . import _core

PathLike = Union[str, "os.PathLike[str]"]
SpecialSet = Union[Literal["all"], AbstractSet[str], Collection[str]]
# The default of `allowed_special`; with the default `disallowed_special` ("all") it gives
# `Tokenizer._default_policy`, made once.
_NO_SPECIALS: frozenset = frozenset()

ENDOFTEXT = "<|endoftext|>"


@dataclass(frozen=True)
class TrainStats:
    """What a training run measured."""

    seconds: float
    corpus_bytes: int
    corpus_tokens: int
    merges: int
    vocab_size: int
    replaced_utf8: int

    @property
    def bytes_per_token(self) -> float:
        return self.corpus_bytes / max(self.corpus_tokens, 1)


def _check_text(text: object, method: str) -> str:
    if isinstance(text, str):
        return text
    hint = "; for bytes use encode_bytes()" if isinstance(text, (bytes, bytearray)) else ""
    raise TypeError(f"{method}() takes a str, not {type(text).__name__}{hint}")


def _without_surrogates(text: str) -> str:
    # Lone surrogates cannot be UTF-8; like tiktoken, turn each into U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _retry_on_surrogates(call, text: str):
    try:
        return call(text)
    except UnicodeEncodeError:
        return call(_without_surrogates(text))


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _check_threads(threads: object) -> int | None:
    """A thread count for the core: None (all cores) or a positive int."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int or None, not {type(threads).__name__}")
    if not 1 <= threads <= 1 << 16:
        raise ValueError(f"threads must be between 1 and {1 << 16}, not {threads}")
    return threads


def _forbid(strings: Collection[str], texts: Sequence[str]) -> None:
    """A ValueError for the first of ``strings`` found in any of ``texts``."""
    for text in texts:
        found = [(text.find(s), s) for s in strings if s in text]
        if found:
            s = min(found)[1]
            raise ValueError(
                f"the text contains {s!r}, which disallowed_special forbids. It is not a special token of "
                f"this vocabulary, so it can only be encoded as ordinary text: leave it out of disallowed_special"
            )


def _check_ids(ids: object) -> list:
    """Token ids as a list of ints; anything else is a TypeError naming the first bad item."""
    if hasattr(ids, "tolist") and hasattr(ids, "dtype"):  # numpy arrays and torch tensors
        kind = getattr(ids.dtype, "kind", "i")
        if kind not in "iub":
            raise TypeError(f"token ids must be integers, got an array of {ids.dtype}")
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"token ids must be a sequence of ints, not {type(ids).__name__}")
    ids = list(ids)
    for i, v in enumerate(ids):
        if isinstance(v, bool) or not isinstance(v, int):
            if hasattr(v, "__index__") and not isinstance(v, bool):
                continue
            raise TypeError(f"token ids must be ints: item {i} is {v!r} ({type(v).__name__})")
    return [int(v) for v in ids]


class _Progress:
    """A tqdm bar fed by the core's progress callback, opened at the first report (so a job
    that fails at once prints nothing but its error); silent when disabled."""

    def __init__(self, enabled: bool, desc: str, unit: str, scale: bool):
        self.enabled, self.desc, self.unit, self.scale = enabled, desc, unit, scale
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.enabled and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                desc=self.desc, unit=self.unit, unit_scale=self.scale, file=sys.stderr, dynamic_ncols=True, leave=True
            )
        if self.bar is not None:
            if total and self.bar.total != total:
                self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Tokenizer:
    """A byte-level BPE tokenizer: a pre-tokenizer pattern, ranked tokens and special tokens.

    Build one with :func:`bpe.train`, :func:`bpe.load`, or a ``from_*`` constructor; it encodes
    with tiktoken's rules, so a shared vocabulary gives the same ids.

    >>> import bpe
    >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
    >>> tok.encode("aaabdaaabac")
    [258, 100, 258, 97, 99]
    >>> tok.decode([258, 100])
    'aaabd'
    >>> tok.encode("<|endoftext|>")
    Traceback (most recent call last):
    ...
    ValueError: the text contains the special token "<|endoftext|>", which is not allowed here. ...
    """

    def __init__(self, core: _core.CoreTokenizer):
        if not isinstance(core, _core.CoreTokenizer):
            raise TypeError("use bpe.load(), bpe.train() or a Tokenizer.from_* constructor")
        self._core = core
        self.stats: TrainStats | None = None

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_ranks(
        cls,
        tokens: Sequence[bytes],
        special_tokens: dict[str, int] | None = None,
        pattern: str = "gpt2",
    ) -> "Tokenizer":
        """A tokenizer from ordinary tokens in rank order (index = id) and special tokens.

        Args:
            tokens: the bytes of each ordinary token; all 256 single bytes must be among them.
            special_tokens: text → id, each id past the ordinary tokens.
            pattern: a built-in pattern name (``gpt2``, ``cl100k``, ``o200k``) or a regex.
        """
        specials = list((special_tokens or {}).items())
        for text, id in specials:
            if not isinstance(text, str):
                raise TypeError(f"special token {text!r} must be a str, not {type(text).__name__}")
            if isinstance(id, bool) or not isinstance(id, int):
                raise TypeError(f"special token {text!r}: its id must be an int, not {type(id).__name__}")
            if not 0 <= id < 1 << 32:
                raise ValueError(f"special token {text!r}: id {id} is out of range (0..{(1 << 32) - 1})")
        return cls(_core.CoreTokenizer.from_ranked([bytes(t) for t in tokens], specials, pattern, "<ranks>"))

    @classmethod
    def from_tiktoken(
        cls, path: PathLike, pattern: str = "cl100k", special_tokens: dict[str, int] | None = None
    ) -> "Tokenizer":
        """A tiktoken rank file (``*.tiktoken``). Unless ``special_tokens`` is given, a built-in
        pattern name (``gpt2``/``r50k_base``, ``cl100k_base``, ``o200k_base``) brings that
        encoding's special tokens only when the file has that encoding's number of ordinary
        tokens (50,256 / 100,256 / 199,998); any other vocabulary gets none."""
        from .formats import from_tiktoken

        return from_tiktoken(path, pattern, special_tokens)

    @classmethod
    def from_gpt2(cls, encoder_json: PathLike, vocab_bpe: PathLike) -> "Tokenizer":
        """GPT-2's own ``encoder.json`` and ``vocab.bpe``."""
        from .formats import from_gpt2

        return from_gpt2(encoder_json, vocab_bpe)

    @classmethod
    def from_huggingface(cls, path: PathLike) -> "Tokenizer":
        """A HF ``tokenizer.json`` holding a byte-level BPE model."""
        from .formats import from_huggingface

        return from_huggingface(path)

    @classmethod
    def from_file(cls, path: PathLike) -> "Tokenizer":
        """Load a tokenizer file; the same as :func:`bpe.load`."""
        from .formats import load

        return load(path)

    # --- properties ---------------------------------------------------------------------------

    @property
    def n_vocab(self) -> int:
        """One past the largest token id (ordinary or special), as tiktoken counts it."""
        return self._core.n_vocab

    @property
    def pattern(self) -> str:
        """The pre-tokenizer's regex text."""
        return self._core.pattern

    @functools.cached_property
    def _specials(self) -> dict[str, int]:
        return dict(self._core.specials)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token text → id (a copy: changing it changes nothing here)."""
        return dict(self._specials)

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self._specials)

    @property
    def max_token_value(self) -> int:
        """The largest token id, ordinary or special (``n_vocab - 1``)."""
        return self.n_vocab - 1

    @property
    def eot_token(self) -> int | None:
        """The id of ``<|endoftext|>``, or None if this vocabulary has none."""
        return self._specials.get(ENDOFTEXT)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A sha256 (hex) of the pattern, special tokens and every token's bytes."""
        return self._core.fingerprint()

    @property
    def merges(self) -> list[tuple[int, int]]:
        """The merge list in rank order: (left id, right id) for each token past the bytes."""
        return self._core.merges()

    # --- encoding -----------------------------------------------------------------------------

    @functools.cached_property
    def _default_policy(self) -> tuple[list[str], list[str]]:
        return [], sorted(self._specials)

    def _policy(
        self, allowed_special: SpecialSet, disallowed_special: SpecialSet, texts: Sequence[str] = ()
    ) -> tuple[list[str], list[str]]:
        """(allowed, disallowed) special tokens for the core. As in tiktoken, a string given in
        ``disallowed_special`` that is not one of this vocabulary's special tokens is still
        forbidden: finding it in any of ``texts`` is a ValueError."""
        # The default (every special token disallowed) from a cache: working it out takes
        # longer than encoding a short text.
        if allowed_special is _NO_SPECIALS and disallowed_special == "all":
            return self._default_policy
        specials = self._specials
        if allowed_special == "all":
            allowed = set(specials)
        elif isinstance(allowed_special, str):
            raise TypeError('allowed_special must be "all" or a set of special token strings')
        else:
            allowed = set(allowed_special)
        if disallowed_special == "all":
            disallowed = set(specials) - allowed
        elif isinstance(disallowed_special, str):
            raise TypeError('disallowed_special must be "all" or a set of special token strings')
        else:
            disallowed = set(disallowed_special)
            for s in disallowed:
                if not isinstance(s, str):
                    raise TypeError(f"disallowed_special holds {s!r}, not a str")
            others = [s for s in disallowed - set(specials) if s]
            if others:
                _forbid(others, texts)
        return sorted(allowed & set(specials)), sorted(disallowed & set(specials))

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special-token text as ordinary text.

        >>> import bpe

        >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
        >>> tok.encode_ordinary("aaab")
        [258]
        """
        text = _check_text(text, "encode_ordinary")
        return _retry_on_surrogates(self._core.encode_ordinary, text)

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = _NO_SPECIALS,
        disallowed_special: SpecialSet = "all",
    ) -> list[int]:
        """Encode text with tiktoken's special-token rules.

        Args:
            text: the text.
            allowed_special: special tokens to encode as their ids ("all" for every one).
            disallowed_special: special tokens whose appearance in the text is an error; "all"
                (the default) means every special token not allowed. Pass ``()`` to encode
                special-token text as ordinary text.

        >>> import bpe

        >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
        >>> tok.encode("ab<|endoftext|>", allowed_special="all")
        [257, 259]
        """
        text = _check_text(text, "encode")
        allowed, disallowed = self._policy(allowed_special, disallowed_special, (text,))
        return _retry_on_surrogates(lambda t: self._core.encode(t, allowed, disallowed), text)

    def encode_bytes(self, data: bytes) -> list[int]:
        """Encode arbitrary bytes; invalid UTF-8 becomes raw byte tokens, so decoding is exact."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"encode_bytes() takes bytes, not {type(data).__name__}")
        return self._core.encode_bytes(bytes(data))

    def count(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = _NO_SPECIALS,
        disallowed_special: SpecialSet = "all",
    ) -> int:
        """The number of tokens ``encode`` would return, without building the list."""
        text = _check_text(text, "count")
        allowed, disallowed = self._policy(allowed_special, disallowed_special, (text,))
        return _retry_on_surrogates(lambda t: self._core.count(t, allowed, disallowed), text)

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = _NO_SPECIALS,
        disallowed_special: SpecialSet = "all",
    ):
        """Encode to a numpy array: uint16 when every id fits, else uint32."""
        import numpy as np

        text = _check_text(text, "encode_to_numpy")
        allowed, disallowed = self._policy(allowed_special, disallowed_special, (text,))
        width = 2 if self.n_vocab <= 1 << 16 else 4
        packed = _retry_on_surrogates(lambda t: self._core.encode_packed(t, allowed, disallowed, width), text)
        return np.frombuffer(packed, dtype="<u2" if width == 2 else "<u4")

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = _NO_SPECIALS,
        disallowed_special: SpecialSet = "all",
        threads: int | None = None,
        num_threads: int | None = None,
    ) -> list[list[int]]:
        """Encode many texts in parallel, without the GIL. ``threads`` defaults to all cores
        (``num_threads``, tiktoken's name for it, is taken too)."""
        if num_threads is not None:
            if threads is not None and threads != num_threads:
                raise ValueError(f"threads={threads} and num_threads={num_threads} disagree; give one")
            threads = num_threads
        if isinstance(texts, str):
            raise TypeError("encode_batch() takes a list of str; for one text use encode()")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"encode_batch(): item {i} is a {type(t).__name__}, not a str")
        allowed, disallowed = self._policy(allowed_special, disallowed_special, texts)
        threads = _check_threads(threads)
        try:
            return self._core.encode_batch(texts, allowed, disallowed, threads)
        except UnicodeEncodeError:
            return self._core.encode_batch([_without_surrogates(t) for t in texts], allowed, disallowed, threads)

    def encode_ordinary_batch(
        self, texts: Sequence[str], *, threads: int | None = None, num_threads: int | None = None
    ) -> list[list[int]]:
        """``encode_ordinary`` over many texts in parallel."""
        return self.encode_batch(texts, disallowed_special=(), threads=threads, num_threads=num_threads)

    # --- decoding -----------------------------------------------------------------------------

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes of the tokens; an id outside the vocabulary is a ValueError naming it."""
        ids = _check_ids(ids)
        try:
            return self._core.decode_bytes(ids)
        except OverflowError:  # an id past 64 bits, which the core cannot take
            raise self._id_error(next(i for i in ids if not _I64_MIN <= i <= _I64_MAX)) from None

    def _id_error(self, token: int) -> ValueError:
        return ValueError(f"token id {token} is out of range: this vocabulary has ids 0..{self.n_vocab - 1}")

    def decode(self, ids: Sequence[int], errors: str = "replace") -> str:
        """The text of the tokens; bytes that are not valid UTF-8 become U+FFFD by default.

        >>> import bpe

        >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
        >>> tok.decode([258, 99])
        'aaabc'
        >>> tok.decode([999])
        Traceback (most recent call last):
        ...
        ValueError: token id 999 is out of range: this vocabulary has ids 0..259
        """
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_batch(self, batch: Sequence[Sequence[int]], errors: str = "replace") -> list[str]:
        return [self.decode(ids, errors) for ids in batch]

    def decode_bytes_batch(self, batch: Sequence[Sequence[int]]) -> list[bytes]:
        return [self.decode_bytes(ids) for ids in batch]

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token, one item per id."""
        return [self.token_bytes(t) for t in _check_ids(tokens)]

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text of the tokens, and for each token the index (in characters) of the character
        its first byte belongs to. A token that begins inside a character (its first byte a UTF-8
        continuation byte) is given that character's index, as tiktoken gives it.

        >>> import bpe

        >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
        >>> tok.decode_with_offsets([258, 99])
        ('aaabc', [0, 4])
        """
        pieces = self.decode_tokens_bytes(tokens)
        offsets, chars = [], 0
        for piece in pieces:
            starts_inside = bool(piece) and 0x80 <= piece[0] < 0xC0
            offsets.append(max(0, chars - starts_inside))
            chars += sum(1 for b in piece if not 0x80 <= b < 0xC0)  # bytes that start a character
        # Offsets count characters, so the text must be whole UTF-8 (as in tiktoken).
        return b"".join(pieces).decode("utf-8", errors="strict"), offsets

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token (as ``token_bytes``; tiktoken's name)."""
        return self.token_bytes(token)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of the one token whose text (a special token's, or an ordinary token's UTF-8) or
        bytes this is; KeyError if no token has them, as in tiktoken."""
        if isinstance(text_or_bytes, str):
            data = text_or_bytes.encode("utf-8")
        elif isinstance(text_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(text_or_bytes)
        else:
            raise TypeError(f"encode_single_token() takes a str or bytes, not {type(text_or_bytes).__name__}")
        token = self._core.token_id(data)
        if token is None:
            token = self._special_ids_by_bytes.get(data)
        if token is None:
            raise KeyError(text_or_bytes)
        return token

    @functools.cached_property
    def _special_ids_by_bytes(self) -> dict[bytes, int]:
        return {text.encode("utf-8"): id for text, id in self._specials.items()}

    def is_special_token(self, token: int) -> bool:
        """Whether ``token`` is the id of a special token."""
        return token in self._special_ids

    @functools.cached_property
    def _special_ids(self) -> frozenset[int]:
        return frozenset(self._specials.values())

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every ordinary token, sorted (as tiktoken lists them)."""
        return sorted(self._core.ranked_tokens())

    def token_bytes(self, token: int) -> bytes:
        """The bytes of one token (ordinary or special)."""
        if isinstance(token, bool) or not hasattr(token, "__index__"):
            raise TypeError(f"a token id must be an int, not {type(token).__name__}")
        token = int(token)
        if not _I64_MIN <= token <= _I64_MAX:
            raise self._id_error(token)
        return self._core.token_bytes(token)

    def pieces(self, text: str) -> list[str]:
        """The pre-tokenizer's pieces of ``text`` (no merging)."""
        return _retry_on_surrogates(self._core.pieces, _check_text(text, "pieces"))

    # --- files --------------------------------------------------------------------------------

    def save(self, path: PathLike, format: str = "bpe") -> Path:
        """Write the tokenizer atomically. ``format``: ``bpe`` (ours), ``huggingface`` or ``tiktoken``."""
        from .formats import save

        return save(self, path, format)

    def write_shards(
        self,
        files: Sequence[PathLike] | PathLike,
        out_dir: PathLike,
        *,
        shard_tokens: int = 100_000_000,
        threads: int | None = None,
        strict: bool = False,
        progress: bool = True,
    ) -> list[tuple[Path, int]]:
        """Encode files into token shards for training: each file one document, followed by
        ``<|endoftext|>`` when the vocabulary has it. Returns (shard path, token count) pairs.
        Files that look binary (a NUL byte in the first 8 KB) are skipped with a warning, as in
        training. The shards appear only when the whole run has succeeded: a run that fails
        leaves the folder's earlier shards as they were.

        Each ``shard_NNNNNN.bin`` holds little-endian ids (uint16 if the vocabulary fits, else
        uint32); ``shard_NNNNNN.json`` beside it gives dtype, count and this tokenizer's fingerprint.
        """
        paths = _paths(files)
        if isinstance(shard_tokens, bool) or not isinstance(shard_tokens, int):
            raise TypeError(f"shard_tokens must be an int, not {type(shard_tokens).__name__}")
        if not 1 <= shard_tokens <= _I64_MAX:
            raise ValueError(f"shard_tokens must be at least 1, not {shard_tokens}")
        threads = _check_threads(threads)
        bar = _Progress(progress, "encode", "B", True)
        try:
            written, notes = self._core.write_shards(
                paths, str(out_dir), shard_tokens, self.eot_token, self.fingerprint, strict, threads, bar
            )
        finally:
            bar.close()
        _warn_notes(notes)
        return [(Path(p), n) for p, n in written]

    # --- Python protocol ----------------------------------------------------------------------

    def __reduce__(self):
        tokens = self._core.ranked_tokens()
        return (_rebuild, (tokens, self._core.specials, self.pattern))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"<bpe.Tokenizer n_vocab={self.n_vocab} specials={len(self.special_tokens)} fingerprint={self.fingerprint[:12]}>"


def _rebuild(tokens: list[bytes], specials: list[tuple[str, int]], pattern: str) -> Tokenizer:
    return Tokenizer(_core.CoreTokenizer.from_ranked(tokens, specials, pattern, "<pickle>"))


def _paths(files: Sequence[PathLike] | PathLike) -> list[str]:
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    paths = [os.fspath(f) for f in files]
    if not paths:
        raise ValueError("no input files given")
    return paths


def _warn_notes(notes: Iterable[str]) -> None:
    for note in notes:
        warnings.warn(note, stacklevel=3)


def _specials(special_tokens: Iterable[str] | None) -> list[str]:
    if special_tokens is None:
        return []
    if isinstance(special_tokens, str):
        special_tokens = [special_tokens]
    out = list(special_tokens)
    for s in out:
        if not isinstance(s, str):
            raise TypeError(f"special tokens must be str, not {type(s).__name__}")
    return out


def _check_vocab_size(vocab_size: object) -> int:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"vocab_size must be an int, not {type(vocab_size).__name__}")
    if vocab_size < 0:
        raise ValueError(f"vocab_size {vocab_size} is negative")
    return vocab_size


def train(
    files: Sequence[PathLike] | PathLike,
    vocab_size: int,
    pattern: str = "gpt2",
    special_tokens: Iterable[str] | None = (ENDOFTEXT,),
    *,
    threads: int | None = None,
    strict: bool = False,
    progress: bool = True,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer on text files, read and counted in parallel in Rust.

    Args:
        files: one path or several. Each is streamed in blocks, so size is no limit.
        vocab_size: the whole vocabulary: 256 byte tokens + merges + special tokens.
        pattern: ``gpt2`` (default), ``cl100k``, ``o200k`` or any regex.
        special_tokens: added after the merges, in order; ``<|endoftext|>`` by default, so a
            50,257 vocabulary puts it at 50256 as GPT-2 does.
        threads: worker threads (default: all cores). The merges do not depend on it.
        strict: stop at the first invalid UTF-8 (naming file and byte offset) instead of
            replacing it with U+FFFD and warning.
        progress: show progress bars on stderr.

    Ties between equally frequent pairs go to the smaller (left id, right id); a pair spelling
    an existing token is never merged. A corpus too small for the size warns and stops early.

    >>> import bpe, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
    >>> _ = path.write_text("aaabdaaabac")
    >>> tok = bpe.train([path], vocab_size=260, progress=False)
    >>> tok.merges
    [(97, 97), (97, 98), (256, 257)]
    >>> bpe.train([path], vocab_size=100)
    Traceback (most recent call last):
    ...
    ValueError: vocab_size 100 is too small: it must hold the 256 byte tokens and the 1 special token(s), so at least 257
    """
    from .counts import count_files, train_from_counts

    vocab_size = _check_vocab_size(vocab_size)
    started = time.perf_counter()
    _core.check_vocab_size(vocab_size, _specials(special_tokens))
    counts = count_files(files, pattern, threads=threads, strict=strict, progress=progress)
    tok = train_from_counts(counts, vocab_size, special_tokens, threads=threads, progress=progress, _consume=True)
    tok.stats = dataclasses.replace(tok.stats, seconds=time.perf_counter() - started)
    return tok


def train_from_iterator(
    texts: Iterable[str],
    vocab_size: int,
    pattern: str = "gpt2",
    special_tokens: Iterable[str] | None = (ENDOFTEXT,),
    *,
    threads: int | None = None,
    progress: bool = True,
) -> Tokenizer:
    """Train on an iterable of str (pulled in batches, counted in parallel without the GIL).

    The arguments are those of :func:`train`.

    >>> import bpe

    >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
    >>> tok.n_vocab, tok.eot_token
    (260, 259)
    """
    from .counts import count_words, train_from_counts

    vocab_size = _check_vocab_size(vocab_size)
    started = time.perf_counter()
    _core.check_vocab_size(vocab_size, _specials(special_tokens))
    counts = count_words(texts, pattern, threads=threads, progress=progress)
    tok = train_from_counts(counts, vocab_size, special_tokens, threads=threads, progress=progress, _consume=True)
    tok.stats = dataclasses.replace(tok.stats, seconds=time.perf_counter() - started)
    return tok


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Tokenizer:
    from .formats import load

    return load(path)


def encode(text: str, tokenizer: "Tokenizer | PathLike") -> list[int]:
    """Encode one text with a tokenizer or the path of a tokenizer file (loaded once, cached).

    >>> import bpe

    >>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
    >>> bpe.encode("aaab", tok)
    [258]
    """
    if not isinstance(tokenizer, Tokenizer):
        if not isinstance(tokenizer, (str, os.PathLike)):
            raise TypeError(f"tokenizer must be a bpe.Tokenizer or a path, not {type(tokenizer).__name__}")
        path = os.path.abspath(os.fspath(tokenizer))
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError as e:
            raise FileNotFoundError(f"{path}: {e.strerror}") from None
        tokenizer = _load_cached(path, mtime)
    return tokenizer.encode(text)
