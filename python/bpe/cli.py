"""The `bpe` command: train, count, encode, decode, info, export.

Errors print one line, ``bpe: error: …``, and exit with status 1 (130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from . import core, counts
from .formats import load


def _positive(text: str) -> int:
    """An argument that must be a whole number of at least 1 (threads, tokens per shard)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bpe", description="Fast, exact byte-level BPE tokenizer.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a tokenizer on text files", description="Train a byte-level BPE tokenizer.")
    t.add_argument("files", nargs="*", metavar="FILE", help="text files (streamed; any size)")
    t.add_argument(
        "--from-counts",
        nargs="+",
        metavar="COUNTS",
        help="train from .counts files written by `bpe count` (added up) instead of text files",
    )
    t.add_argument("--vocab", type=int, required=True, metavar="N", help="vocabulary size: 256 bytes + merges + specials")
    t.add_argument("--pattern", help="pre-tokenizer: gpt2 (default), cl100k, o200k, or a regex")
    t.add_argument(
        "--special",
        action="append",
        metavar="TOKEN",
        help="a special token (repeatable); default <|endoftext|>, placed last",
    )
    t.add_argument("--no-special", action="store_true", help="no special tokens at all")
    t.add_argument("-o", "--output", default="tokenizer.bpe", metavar="PATH", help="where to write (default tokenizer.bpe)")
    t.add_argument("--threads", type=_positive, metavar="N", help="worker threads (default: all cores)")
    t.add_argument("--strict", action="store_true", help="stop at invalid UTF-8 instead of replacing it")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    e = sub.add_parser(
        "encode",
        help="encode text to ids, or files to token shards",
        description="Encode FILE (or stdin) to ids on stdout, one line per input; with -o DIR, "
        "encode FILES into uint16/uint32 shards for model training.",
    )
    e.add_argument("files", nargs="*", metavar="FILE", help="input files; '-' or none for stdin")
    e.add_argument("-t", "--tokenizer", required=True, metavar="TOK", help="tokenizer file")
    e.add_argument("-o", "--output", metavar="DIR", help="write token shards into DIR")
    e.add_argument("--shard-tokens", type=_positive, default=100_000_000, metavar="N", help="tokens per shard")
    e.add_argument("--allow-special", action="store_true", help="encode special-token text as special tokens")
    e.add_argument("--threads", type=_positive, metavar="N", help="worker threads (default: all cores)")
    e.add_argument("--strict", action="store_true", help="stop at invalid UTF-8 instead of replacing it")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("decode", help="decode ids to text", description="Decode whitespace-separated ids to text.")
    d.add_argument("file", nargs="?", default="-", metavar="FILE", help="ids file; '-' or none for stdin")
    d.add_argument("-t", "--tokenizer", required=True, metavar="TOK", help="tokenizer file")

    c = sub.add_parser(
        "count",
        help="count pre-tokenizer pieces into a mergeable .counts file",
        description="Count the pieces of FILES into a .counts file. Counts from many machines add up: "
        "`bpe train --from-counts part*.counts` gives the merges of training on all the text at once.",
    )
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("-o", "--output", required=True, metavar="PATH", help="the .counts file to write")
    c.add_argument("--pattern", default="gpt2", help="pre-tokenizer: gpt2 (default), cl100k, o200k, or a regex")
    c.add_argument("--threads", type=_positive, metavar="N", help="worker threads (default: all cores)")
    c.add_argument("--strict", action="store_true", help="stop at invalid UTF-8 instead of replacing it")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    i = sub.add_parser("info", help="describe a tokenizer file", description="Describe a tokenizer file.")
    i.add_argument("tokenizer", metavar="TOK")

    x = sub.add_parser(
        "export",
        help="write a tokenizer in another format",
        description="Write TOK (any format bpe loads) as .bpe, HF tokenizer.json or a tiktoken rank file.",
    )
    x.add_argument("tokenizer", metavar="TOK")
    x.add_argument("--format", required=True, choices=["bpe", "huggingface", "tiktoken"])
    x.add_argument("-o", "--output", required=True, metavar="PATH")
    return p


def _read_input(name: str, strict: bool = False) -> str:
    """The text of file `name` ('-': stdin). Invalid UTF-8 becomes U+FFFD, or with `strict` is an
    error naming the file and byte offset, as in shards and counts."""
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(name)
        if path.is_dir():
            raise IsADirectoryError(f"{name}: is a directory, not a file")
        data = path.read_bytes()
    try:
        return data.decode("utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError as e:
        shown = "<stdin>" if name == "-" else name
        raise ValueError(f"{shown}: invalid UTF-8 at byte offset {e.start}") from None


def cmd_train(args) -> int:
    if args.no_special and args.special:
        raise ValueError("give --special or --no-special, not both")
    specials = [] if args.no_special else (args.special or [core.ENDOFTEXT])
    if args.from_counts:
        if args.files:
            raise ValueError("give text files or --from-counts, not both")
        if args.pattern is not None:
            raise ValueError("--pattern does not apply to --from-counts: the pattern is the one the .counts files were made with")
        tok = counts.train_from_counts(args.from_counts, args.vocab, specials, threads=args.threads, progress=not args.quiet)
    elif not args.files:
        raise ValueError("no input: give text files, or --from-counts COUNTS...")
    else:
        tok = core.train(
            args.files,
            args.vocab,
            "gpt2" if args.pattern is None else args.pattern,
            specials,
            threads=args.threads,
            strict=args.strict,
            progress=not args.quiet,
        )
    out = tok.save(args.output)
    s = tok.stats
    print(
        f"trained {out}: vocabulary {s.vocab_size} ({s.merges} merges) in {s.seconds:.2f} s; "
        f"corpus {s.corpus_bytes:,} bytes -> {s.corpus_tokens:,} tokens, {s.bytes_per_token:.3f} bytes/token",
        file=sys.stderr,
    )
    return 0


def cmd_encode(args) -> int:
    tok = load(args.tokenizer)
    if args.output:
        if not args.files or "-" in args.files:
            raise ValueError("encoding to shards (-o DIR) needs input files, not stdin")
        written = tok.write_shards(
            args.files,
            args.output,
            shard_tokens=args.shard_tokens,
            threads=args.threads,
            strict=args.strict,
            progress=not args.quiet,
        )
        total = sum(n for _, n in written)
        print(f"wrote {len(written)} shard(s), {total:,} tokens, to {args.output}", file=sys.stderr)
        return 0
    allowed = "all" if args.allow_special else frozenset()
    out = sys.stdout
    for name in args.files or ["-"]:
        ids = tok.encode(_read_input(name, args.strict), allowed_special=allowed, disallowed_special=())
        out.write(" ".join(map(str, ids)) + "\n")
    return 0


def cmd_decode(args) -> int:
    tok = load(args.tokenizer)
    words = _read_input(args.file).split()
    ids = []
    for pos, w in enumerate(words):
        try:
            ids.append(int(w))
        except ValueError:
            raise ValueError(f"{args.file}: item {pos} ({w[:20]!r}) is not a token id") from None
    sys.stdout.write(tok.decode(ids))
    return 0


def cmd_info(args) -> int:
    tok = load(args.tokenizer)
    print(f"file:         {args.tokenizer}")
    print(f"n_vocab:      {tok.n_vocab}")
    print(f"pattern:      {tok.pattern}")
    print(f"special:      {', '.join(f'{k}={v}' for k, v in tok.special_tokens.items()) or '(none)'}")
    print(f"fingerprint:  {tok.fingerprint}")
    # The ordinary tokens are ids 0..k-1; the specials may leave gaps after them (cl100k's ids
    # 100256 and 100261..100275 belong to no token).
    ordinary = len(tok._core.ranked_tokens())
    print(f"ordinary:     {ordinary} (ids 0..{ordinary - 1})")
    longest = sorted(range(ordinary), key=lambda i: -len(tok.token_bytes(i)))[:5]
    print("longest:      " + ", ".join(repr(tok.token_bytes(i).decode("utf-8", "replace")) for i in longest))
    return 0


def cmd_count(args) -> int:
    result = counts.count_files(args.files, args.pattern, threads=args.threads, strict=args.strict, progress=not args.quiet)
    out = result.save(args.output)
    print(f"counted {out}: {len(result):,} distinct pieces in {result.n_bytes:,} bytes", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    tok = load(args.tokenizer)
    out = tok.save(args.output, format=args.format)
    print(f"wrote {out} ({args.format})", file=sys.stderr)
    if args.format == "tiktoken":
        print(f"pattern: {tok.pattern}\nspecial_tokens: {tok.special_tokens}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"train": cmd_train, "encode": cmd_encode, "decode": cmd_decode, "info": cmd_info, "export": cmd_export, "count": cmd_count}
    handler = handlers[args.command]
    warnings.formatwarning = lambda msg, *a, **k: f"bpe: warning: {msg}\n"
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("bpe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (OSError, ValueError, TypeError, OverflowError) as e:
        msg = str(e) if not isinstance(e, OSError) or e.filename is None else f"{e.filename}: {e.strerror}"
        print(f"bpe: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
