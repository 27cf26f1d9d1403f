"""Token shards for training: does `bpe encode FILES -o DIR` run at the encoder's full speed?

The same files, on all cores, three ways per round (rounds interleaved, median of --repeat):

  write_shards   `Tokenizer.write_shards(files, dir)`: read every file, encode it as one
                 document followed by <|endoftext|>, write uint16/uint32 shards atomically
  command        `bpe encode -t TOK FILES -o DIR -q` as a new process: the whole command,
                 Python's start and the tokenizer's load included
  in memory      `encode_ordinary_batch(texts)` on the files' texts read beforehand: the
                 encoder alone, no reading or writing, the speed the shards should reach
  tiktoken       the same job done with tiktoken as a training script would: read the files,
                 `encode_ordinary_batch(texts, num_threads=cores)`, append <|endoftext|> to each,
                 and write the ids with numpy in the shards' dtype (not synced to disk)

Inputs: the Python standard library's source (every *.py file, about 30 MB, on every machine),
and the mixed corpus of `long.py` as one file (English, code, Chinese; --size). Before timing, the
shards' ids are checked against `encode_ordinary` of each file plus <|endoftext|>, and against
tiktoken's. Piece caches are emptied before every run of ours. Writes its section of
benchmarks/RESULTS.md.

    python benchmarks/shards.py                         # o200k_base, 100 MB mixed, 5 rounds
    python benchmarks/shards.py --size 10MB --repeat 2  # a smoke test
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import encode  # noqa: E402
import long  # noqa: E402
from _common import (cores, fmt_size, interleaved_medians, markdown_table, parse_size, provenance,  # noqa: E402
                     publish)


def read_shards(folder: Path) -> list[int]:
    """All ids of the shards in ``folder``, in order, read with the dtype their sidecars give."""
    import numpy as np
    ids: list[int] = []
    for meta in sorted(folder.glob("shard_*.json")):
        dtype = json.loads(meta.read_text())["dtype"]
        ids.extend(np.fromfile(meta.with_suffix(".bin"), dtype=np.dtype(dtype).newbyteorder("<")).tolist())
    return ids


def main() -> None:
    args = long.arguments(__doc__).parse_args()

    import numpy as np

    import bpe

    mixed, info = encode.text_file("mixed", "mixed", parse_size(args.size))
    inputs = {"stdlib": [p for p, _ in corpus._stdlib_files()], "mixed": [mixed]}
    rows, checks = [], []
    work = Path(tempfile.mkdtemp(prefix="bpe-shards-"))
    try:
        for vocab in args.vocab:
            tok = encode.load_bpe(vocab)
            tok_file = tok.save(work / f"{vocab}.bpe")
            eot = tok.eot_token
            dtype = np.uint16 if tok.n_vocab <= 1 << 16 else np.uint32
            try:
                theirs = encode.vocabs.tiktoken_encoding(vocab)
            except ImportError:
                theirs = None
            for label, files in inputs.items():
                # Every file, as write_shards reads it: binary files skipped, bad UTF-8 replaced.
                datas = [p.read_bytes() for p in files]
                kept = [(p, d) for p, d in zip(files, datas) if b"\0" not in d[:8192]]
                texts = [d.decode("utf-8", errors="replace") for _, d in kept]
                nbytes = sum(len(d) for _, d in kept)
                n_files = f"{len(kept):,} file{'s' if len(kept) != 1 else ''}"
                out = work / "out"
                tok.write_shards(files, out, progress=False)
                want = [i for t in tok.encode_ordinary_batch(texts) for i in (*t, eot)]
                got = read_shards(out)
                check = f"{label}, {vocab}: {n_files} ({len(files) - len(kept)} skipped as binary), {len(got):,} ids; the shards "
                check += ("equal" if got == want else "**differ from**") + " `encode_ordinary` of each file plus <|endoftext|>"
                if theirs is not None:
                    same = [i for t in theirs.encode_ordinary_batch(texts) for i in (*t, eot)] == want
                    check += ", " + ("identical to" if same else "**different from**") + " tiktoken's"
                checks.append(check)
                del want, got

                def tiktoken_job() -> None:
                    texts = [p.read_bytes().decode("utf-8", errors="replace") for p, _ in kept]
                    lists = theirs.encode_ordinary_batch(texts, num_threads=cores())
                    ids = np.fromiter((i for t in lists for i in (*t, eot)), dtype=dtype)
                    ids.tofile(work / "tiktoken.bin")

                command = [str(Path(sys.executable).with_name("bpe")), "encode", "-t", str(tok_file), "-o", str(out), "-q",
                           *map(str, files)]
                jobs = {"shards": lambda: tok.write_shards(files, out, progress=False),
                        "command": lambda: subprocess.run(command, check=True, capture_output=True),
                        "memory": lambda: tok.encode_ordinary_batch(texts)}
                if theirs is not None:
                    jobs["tiktoken"] = tiktoken_job
                forget = {k: bpe._core.clear_piece_caches for k in ("shards", "memory")}
                times = interleaved_medians(jobs, args.repeat, forget)
                mbs = {k: nbytes / s / 1e6 for k, s in times.items()}
                size = f"{fmt_size(nbytes)} in {n_files}"
                tk = (f"{mbs['tiktoken']:.1f}", f"{mbs['shards'] / mbs['tiktoken']:.2f}x") if "tiktoken" in mbs else ("–", "–")
                rows.append([label, size, vocab, f"{mbs['shards']:.1f}", f"{mbs['command']:.1f}", f"{mbs['memory']:.1f}",
                             f"{mbs['shards'] / mbs['memory']:.2f}", *tk])
                print(*rows[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = f"""## Token shards: `bpe encode FILES -o DIR` against the encoder alone

{provenance(("tiktoken", "tiktoken"))}
All {cores()} cores; median of {args.repeat} rounds, each running every way once untimed and once timed; MB/s of the files' bytes; piece caches emptied before every run of ours. "write_shards": `Tokenizer.write_shards` (read, encode each file as a document followed by <|endoftext|>, write the shards, sync each to disk and publish it atomically with its sidecar); "command": `bpe encode -t TOK FILES -o DIR -q`, the whole process (Python's start and the tokenizer's load included); "in memory": `encode_ordinary_batch` on the texts read beforehand (no reading or writing); "tiktoken": the same job done with tiktoken (read the files, `encode_ordinary_batch(num_threads={cores()})`, <|endoftext|> after each, `numpy.tofile` in the shards' dtype, not synced to disk). Inputs: the Python standard library's `*.py` files; the mixed corpus as one file ({info}).

{markdown_table(["input", "size", "vocabulary", "write_shards, MB/s", "command, MB/s", "in memory, MB/s", "write_shards / in memory", "tiktoken, same job, MB/s", "write_shards / tiktoken"], rows)}

Ids: {"; ".join(checks)}.
"""
    publish("shards", body, not args.no_write)


if __name__ == "__main__":
    main()
