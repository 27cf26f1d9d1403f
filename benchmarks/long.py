"""One long string in one call: as fast per byte as the same text as documents?

`encode.py` times texts of about 1 MB. This script takes a whole file of 100 MB (the mixed
corpus: English, code, Chinese) and encodes it on all cores three ways, in alternating rounds
in one process:

  one call      `encode_ordinary(text)`: `bpe` cuts it at points where the pre-tokenizer
                always starts a piece, encodes the parts on all cores and joins the lists
  batch         the same text cut at line ends into ~4 KB documents, `encode_ordinary_batch`
  one thread    the one call again, in a process pinned to one core (RAYON_NUM_THREADS=1)

Before timing, the one call's ids are checked against the one-thread call's (cutting must not
change a single id) and, when tiktoken is installed, against tiktoken's. Writes its section of
benchmarks/RESULTS.md.

    python benchmarks/long.py                 # 100 MB, 5 rounds
    python benchmarks/long.py --size 20MB --repeat 2
"""

from __future__ import annotations

import argparse
import array
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import encode  # noqa: E402
from _common import (cores, fmt_size, interleaved_medians, markdown_table, parse_size, provenance,  # noqa: E402
                     publish)


def checksum(ids: list) -> int:
    """A CRC of the ids, to compare two encodings made in different processes."""
    return zlib.crc32(array.array("I", ids).tobytes())


def one_thread(vocab: str, path: str, repeat: int) -> None:
    """(In a process pinned to one core.) Print the ids' count, a checksum and the median seconds."""
    import bpe

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    text = Path(path).read_text(encoding="utf-8")
    tok = encode.load_bpe(vocab)
    ids = tok.encode_ordinary(text)
    crc = checksum(ids)
    times = interleaved_medians({"one": lambda: tok.encode_ordinary(text)}, repeat, {"one": bpe._core.clear_piece_caches})
    print(json.dumps({"n": len(ids), "crc": crc, "seconds": times["one"]}))


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options this script shares with shards.py: the mixed corpus's size, the vocabularies,
    the rounds, and --no-write."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--size", default="100MB", help="bytes of the mixed corpus (default 100MB)")
    ap.add_argument("--vocab", nargs="+", default=["o200k_base"], choices=list(encode.vocabs.ENCODINGS))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    return ap


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--one-thread", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_thread:
        return one_thread(args.one_thread[0], args.one_thread[1], args.repeat)

    import bpe

    # As encode.py's texts: the corpus's first bytes, as a str (invalid UTF-8 left out).
    path, info = encode.text_file("mixed", "mixed", parse_size(args.size))
    text = path.read_text(encoding="utf-8")
    nbytes = len(text.encode())
    docs = encode.split_docs(text)
    rows, checks = [], []
    for vocab in args.vocab:
        tok = encode.load_bpe(vocab)
        env = dict(os.environ, RAYON_NUM_THREADS="1")
        out = subprocess.run([sys.executable, __file__, "--one-thread", vocab, str(path), "--repeat", str(args.repeat)],
                             env=env, capture_output=True, text=True, check=True).stdout
        single = json.loads(out.strip().splitlines()[-1])
        ids = tok.encode_ordinary(text)
        same = len(ids) == single["n"] and checksum(ids) == single["crc"]
        checks.append(f"{vocab}: {len(ids):,} ids, the one call on {cores()} cores "
                      + ("identical to" if same else "**different from**") + " the one-thread call")
        try:
            import tiktoken  # noqa: F401
            t0 = time.perf_counter()
            theirs = encode.vocabs.tiktoken_encoding(vocab).encode_ordinary(text)
            tt = time.perf_counter() - t0
            checks[-1] += (", identical to tiktoken's" if theirs == ids else ", **different from tiktoken's**")
            checks[-1] += f" (tiktoken took {tt:.1f} s for the one call, {nbytes / tt / 1e6:.1f} MB/s)"
            del theirs
        except ImportError:
            pass
        del ids
        forget = {k: bpe._core.clear_piece_caches for k in ("long", "batch")}
        times = interleaved_medians({"long": lambda: tok.encode_ordinary(text),
                                     "batch": lambda: tok.encode_ordinary_batch(docs)}, args.repeat, forget)
        mbs = {k: nbytes / s / 1e6 for k, s in times.items()}
        one = nbytes / single["seconds"] / 1e6
        rows.append([vocab, f"{mbs['long']:.0f}", f"{mbs['batch']:.0f}", f"{mbs['long'] / mbs['batch']:.2f}",
                     f"{one:.1f}", f"{mbs['long'] / one:.2f}x"])
        print(*rows[-1], flush=True)
    body = f"""## One long string: {fmt_size(nbytes)} in one call

{provenance(("tiktoken", "tiktoken"))}
The mixed corpus ({info}) encoded on {cores()} cores as one `encode_ordinary` call, and as ~4 KB documents (cut at line ends) in one `encode_ordinary_batch` call, in alternating rounds (median of {args.repeat}); and as one call in a process pinned to one core. MB/s; piece caches emptied before every run.

{markdown_table(["vocabulary", "one call, MB/s", "documents in a batch, MB/s", "one call / batch", "one call on one thread, MB/s", "cores' gain"], rows)}

Ids: {"; ".join(checks)}.
"""
    publish("long", body, not args.no_write)


if __name__ == "__main__":
    main()
