"""Tokenizer files: ours (`.bpe`), GPT-2's (`encoder.json` + `vocab.bpe`), tiktoken's
(`*.tiktoken`) and HF's (`tokenizer.json`). `load` tells them apart by content; `save` writes
ours and exports the other two, atomically.

Malformed files raise ValueError naming the file and, where there is one, the line.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from . import _core
from .core import ENDOFTEXT, PathLike, Tokenizer

FORMATS = ("bpe", "huggingface", "tiktoken")

# The special tokens of tiktoken's named encodings (as tiktoken_ext/openai_public.py defines them).
NAMED_SPECIALS = {
    "gpt2": {ENDOFTEXT: 50256},
    "cl100k": {
        ENDOFTEXT: 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k": {ENDOFTEXT: 199999, "<|endofprompt|>": 200018},
}
_ALIASES = {"r50k": "gpt2", "r50k_base": "gpt2", "p50k_base": "gpt2", "cl100k_base": "cl100k", "o200k_base": "o200k"}

# How many ordinary tokens (ranks 0..n-1) each named encoding's rank file holds. The names are
# also pattern names, and many vocabularies are split with those patterns, so a name alone does
# not say that a file is that encoding's: its special tokens are attached only to a file of its
# exact size (another vocabulary would get ids that mean nothing in it, such as an end-of-text id
# past its last token). cl100k leaves rank 100256 unused (its end-of-text is 100257), and o200k
# leaves 199998 unused.
NAMED_SIZES = {"gpt2": 50256, "cl100k": 100256, "o200k": 199998}


def _canonical_name(pattern: str) -> str | None:
    name = _ALIASES.get(pattern, pattern)
    return name if name in NAMED_SPECIALS else None


def _named_specials(pattern: str, n_tokens: int) -> dict[str, int]:
    """The special tokens of the encoding ``pattern`` names, when the vocabulary has that
    encoding's number of ordinary tokens; otherwise none (see NAMED_SIZES)."""
    name = _canonical_name(pattern)
    if name is None or NAMED_SIZES[name] != n_tokens:
        return {}
    return dict(NAMED_SPECIALS[name])


# --- loading ---------------------------------------------------------------------------------


def from_tiktoken(path: PathLike, pattern: str = "cl100k", special_tokens: dict[str, int] | None = None) -> Tokenizer:
    """A tiktoken rank file (``base64-token rank`` per line).

    A rank file holds no special tokens. Unless ``special_tokens`` is given, a built-in pattern
    name (``gpt2``/``r50k_base``, ``cl100k``/``cl100k_base``, ``o200k``/``o200k_base``) brings that
    encoding's special tokens only when the file has that encoding's number of ordinary tokens
    (50,256, 100,256 or 199,998), that is, when it is that encoding's own file; any other
    vocabulary gets none, since the named ids would mean nothing in it. Pass ``special_tokens``
    to give it some.
    """
    path = Path(os.fspath(path))
    _read_head(path, 0)
    given = None if special_tokens is None else list(special_tokens.items())
    specials_for = lambda n: given if given is not None else list(_named_specials(pattern, n).items())  # noqa: E731
    return Tokenizer(_core.CoreTokenizer.from_tiktoken_file(str(path), pattern, specials_for))


def from_gpt2(encoder_json: PathLike, vocab_bpe: PathLike, pattern: str = "gpt2") -> Tokenizer:
    """GPT-2's own files. Every merge in ``vocab.bpe`` must spell token 256 + its index in
    ``encoder.json``, as in GPT-2's release."""
    encoder_json, vocab_bpe = Path(os.fspath(encoder_json)), Path(os.fspath(vocab_bpe))
    _read_head(encoder_json, 0)
    _read_head(vocab_bpe, 0)
    return Tokenizer(_core.CoreTokenizer.from_gpt2_files(str(encoder_json), str(vocab_bpe), pattern))


def _hf_pattern(pre: object, path: Path) -> str:
    """The regex of a byte-level HF pre-tokenizer."""
    if not isinstance(pre, dict):
        raise ValueError(f"{path}: no pre_tokenizer; only byte-level BPE tokenizers can be loaded")
    kind = pre.get("type")
    if kind == "ByteLevel":
        if pre.get("add_prefix_space"):
            raise ValueError(f"{path}: ByteLevel with add_prefix_space=true is not supported")
        if not pre.get("use_regex", True):
            raise ValueError(f"{path}: ByteLevel without a regex splits nothing; not supported")
        return "gpt2"
    if kind == "Sequence":
        steps = pre.get("pretokenizers") or []
        splits = [s for s in steps if isinstance(s, dict) and s.get("type") == "Split"]
        levels = [s for s in steps if isinstance(s, dict) and s.get("type") == "ByteLevel"]
        if levels and levels[0].get("add_prefix_space"):
            raise ValueError(f"{path}: ByteLevel with add_prefix_space=true is not supported")
        # The Split must come first: after ByteLevel it would see GPT-2's stand-in characters
        # (a space is 'Ġ', a letter), not the text, and split elsewhere.
        if len(steps) == 2 and steps[0] in splits and steps[1] in levels and not levels[0].get("use_regex", True):
            split = splits[0]
            regex = (split.get("pattern") or {}).get("Regex")
            if regex and split.get("behavior", "").lower() == "isolated" and not split.get("invert"):
                # Our export writes cl100k's `{1,3}+` as `{1,3}` for Oniguruma; read it back as cl100k.
                restored = regex if r"{1,3}+" in regex else regex.replace(r"{1,3}", r"{1,3}+")
                return restored if restored == _core.resolve_pattern("cl100k") else regex
        if len(levels) == 1 and len(steps) == 1:
            return _hf_pattern(levels[0], path)
    raise ValueError(f"{path}: pre_tokenizer {kind!r} is not a byte-level BPE pre-tokenizer this version reads")


def from_huggingface(path: PathLike) -> Tokenizer:
    """A HF ``tokenizer.json`` holding a byte-level BPE model.

    Only files for which HF's ``encode(text)`` gives the ids this tokenizer gives load. A setting
    that would make them differ raises ValueError naming the file and the setting: a normalizer,
    BPE-dropout, a subword prefix or suffix, a post-processor that adds tokens, truncation or
    padding, an added token with ``lstrip``/``rstrip``/``single_word``, and merges that HF would
    apply otherwise than tiktoken's lowest-rank-first rule (see ``from_hf_model`` in
    ``rust/src/foreign.rs``).
    """
    path = Path(os.fspath(path))
    _read_head(path, 0)
    try:
        return Tokenizer(_core.CoreTokenizer.from_huggingface_file(str(path), lambda rest: _hf_settings(json.loads(rest), path)))
    except (TypeError, KeyError, AttributeError) as e:  # a value of the wrong type or shape
        raise ValueError(f"{path}: malformed tokenizer.json ({type(e).__name__}: {e})") from None


def _hf_steps(step: object, key: str) -> list:
    """A normalizer or post-processor as a flat list of steps, Sequences (which list theirs under
    ``key``) opened, in order. (A loop, not recursion: the file may nest them deeply.)"""
    steps, todo = [], [step]
    while todo:
        s = todo.pop()
        if isinstance(s, dict) and s.get("type") == "Sequence":
            inner = s.get(key) or []
            todo.extend(reversed(inner) if isinstance(inner, list) else [inner])
        else:
            steps.append(s)
    return steps


def _hf_describe(step: object, key: str) -> str:
    """A normalizer or post-processor for an error message: 'NFC', 'Sequence [ByteLevel, TemplateProcessing]'."""
    names = [str(s.get("type")) if isinstance(s, dict) else repr(s) for s in _hf_steps(step, key)]
    return f"Sequence [{', '.join(names)}]" if isinstance(step, dict) and step.get("type") == "Sequence" else names[0]


def _hf_post_step_adds_nothing(step: object) -> bool:
    """ByteLevel post-processing trims offsets only, and a template of the text alone (no special
    token in its single-text form) adds nothing; Roberta/Bert processing and the like add tokens."""
    if not isinstance(step, dict):
        return False
    if step.get("type") == "ByteLevel":
        return True
    single = step.get("single")
    return step.get("type") == "TemplateProcessing" and isinstance(single, list) and all(
        isinstance(piece, dict) and set(piece) == {"Sequence"} for piece in single
    )


def _hf_check_settings(data: dict, model: dict, path: Path) -> None:
    """Refuse the settings of a tokenizer.json under which HF's ids differ from this tokenizer's
    for the same vocabulary, naming the setting: loading the file without them would give other
    ids than HF does, with no sign of it. (The pre-tokenizer is checked by `_hf_pattern`, and the
    merges, with ``ignore_merges``, by `_hf_check_merges`.)

    Left alone because they cannot change the ids here: ``unk_token``, ``fuse_unk`` and
    ``byte_fallback`` act only on a character missing from the vocab, and a byte-level vocab has
    all 256 (loading checks it); ``trim_offsets``, a ByteLevel post-processor and the decoder
    touch offsets or decoding only; an added token's ``normalized`` matters only with a
    normalizer, and ``special`` only to decoding.
    """
    normalizer = data.get("normalizer")
    if normalizer is not None and _hf_steps(normalizer, "normalizers"):  # (an empty Sequence does nothing)
        raise ValueError(
            f"{path}: normalizer {_hf_describe(normalizer, 'normalizers')} is not supported: HF changes the "
            "text before encoding it and this tokenizer does not, so the ids would differ (only null loads)"
        )
    dropout = model.get("dropout")
    if dropout is not None and (isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or dropout != 0):
        raise ValueError(
            f"{path}: model.dropout={dropout!r} is not supported: BPE-dropout skips merges at random, "
            "and this tokenizer always merges (only null or 0 loads)"
        )
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key) not in (None, ""):
            raise ValueError(
                f"{path}: model.{key}={model[key]!r} is not supported: HF adds it to the pieces it "
                "merges, which changes the ids, and byte-level BPE has none (only null loads)"
            )
    post = data.get("post_processor")
    if post is not None and not all(_hf_post_step_adds_nothing(s) for s in _hf_steps(post, "processors")):
        raise ValueError(
            f"{path}: post_processor {_hf_describe(post, 'processors')} is not supported: HF adds its tokens "
            "(a beginning-of-text token, say) to every encoding by default, and this tokenizer does not "
            "(only null, ByteLevel, or a template without special tokens loads)"
        )
    for key in ("truncation", "padding"):
        if data.get(key) is not None:
            raise ValueError(
                f"{path}: {key} is not supported: HF cuts or pads every encoding to a length and this "
                "tokenizer does not (only null loads)"
            )
    for t in data.get("added_tokens") or []:
        for key in ("lstrip", "rstrip", "single_word"):
            if isinstance(t, dict) and t.get(key):
                raise ValueError(
                    f"{path}: added token {t.get('content')!r} has {key}=true, which is not supported: HF then "
                    "takes in the spaces beside it, or matches it only between words, and this tokenizer "
                    "matches special tokens exactly as written"
                )


def _hf_settings(data: dict, path: Path) -> tuple[str, bool, list[tuple[str, int]]]:
    """The pattern, ``ignore_merges`` and added tokens of a tokenizer.json (``data``: the
    document without its vocab and merges, which the core reads), its settings checked."""
    model = data["model"]
    pattern = _hf_pattern(data.get("pre_tokenizer"), path)
    _hf_check_settings(data, model, path)
    ignore_merges = model.get("ignore_merges", False)  # HF's default when the field is absent
    if not isinstance(ignore_merges, bool):
        raise ValueError(f"{path}: model.ignore_merges={ignore_merges!r} is not true or false")
    added = {t["content"]: t["id"] for t in data.get("added_tokens") or [] if isinstance(t, dict)}
    return pattern, ignore_merges, list(added.items())


def load(path: PathLike) -> Tokenizer:
    """Load a tokenizer file, recognising its format by content: ``.bpe``, HF ``tokenizer.json``,
    tiktoken ranks (the pattern named by the file name, e.g. ``cl100k_base.tiktoken``, with that
    encoding's special tokens only if the file has its number of tokens; see
    :func:`from_tiktoken`), or GPT-2's ``encoder.json``/``vocab.bpe`` (the other file found
    beside it).

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
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        # A tokenizer.json has a "model"; encoder.json has a token "model", whose value is an id.
        if re.search(rb'"model"\s*:\s*[^\s0-9-]', path.read_bytes()):
            return from_huggingface(path)
        return from_gpt2(path, _beside(path, "vocab.bpe"))
    if head.startswith(b"#version"):
        return from_gpt2(_beside(path, "encoder.json"), path)
    if re.match(rb"^[A-Za-z0-9+/=]+ \d+\r?\n", head):
        name = next((n for n in (*NAMED_SPECIALS, *_ALIASES) if n in path.name), None)
        if name is None:
            raise ValueError(
                f"{path}: a tiktoken file carries no pattern; use bpe.Tokenizer.from_tiktoken(path, pattern=...)"
            )
        return from_tiktoken(path, pattern=_canonical_name(name) or name)
    raise ValueError(
        f"{path}: not a tokenizer file this version reads (.bpe, tokenizer.json, .tiktoken, encoder.json/vocab.bpe)"
    )


# --- saving ----------------------------------------------------------------------------------


def to_huggingface(tok: Tokenizer) -> dict:
    """A HF ``tokenizer.json`` that encodes as ``tok`` does: the pattern splits, ByteLevel maps
    bytes, and the merges list every two-token split of every token, by the rank of the token
    formed, so HF's merge order reproduces the lowest-rank-first rule."""
    spelled, merges = tok._core.hf_spelling()
    vocab = {t: i for i, t in enumerate(spelled)}
    vocab.update(tok.special_tokens)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for s, i in sorted(tok.special_tokens.items(), key=lambda kv: kv[1])
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                # Oniguruma takes `{1,3}+` as a repeat of a repeat; the plain form splits the same.
                {"type": "Split", "pattern": {"Regex": tok.pattern.replace(r"{1,3}+", "{1,3}")}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            "vocab": vocab,
            "merges": merges,
        },
    }


def to_tiktoken(tok: Tokenizer) -> str:
    """tiktoken's rank file: each ordinary token in base64 and its rank. tiktoken takes the pattern
    and special tokens as arguments: ``tok.pattern`` and ``tok.special_tokens``."""
    return "".join(f"{base64.b64encode(t).decode()} {i}\n" for i, t in enumerate(tok._core.ranked_tokens()))


def save(tok: Tokenizer, path: PathLike, format: str = "bpe") -> Path:
    """Write ``tok`` to ``path`` in ``format``, atomically (a temporary file, then a rename), with
    the permissions of any new file (0o666 less the umask) in every format."""
    path = Path(os.fspath(path))
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if format == "bpe":
        tok._core.save_bpe(str(path))
    elif format == "huggingface":
        _core.write_atomic(str(path), json.dumps(to_huggingface(tok), ensure_ascii=False).encode("utf-8"))
    else:
        _core.write_atomic(str(path), to_tiktoken(tok).encode("ascii"))
    return path


# --- file helpers ----------------------------------------------------------------------------


def _read_head(path: Path, n: int = 256) -> bytes:
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, not a tokenizer file")
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None


def _beside(path: Path, name: str) -> Path:
    other = path.with_name(name)
    if not other.exists():
        raise ValueError(f"{path}: a GPT-2 vocabulary needs {name} beside it (or use bpe.Tokenizer.from_gpt2)")
    return other
