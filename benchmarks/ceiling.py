"""How far two cores can speed up this machine's encoding at all: the ceiling for batch scaling.

`encode.py` compares `bpe`'s batch speed on all cores with its own single-thread speed on
~4 KB documents. Two threads of one process share the last-level cache and the memory bus, so
even fully independent work does not run twice as fast. This script measures that bound
directly: the single-thread documents loop of `encode.py` in one process pinned to one core,
then in two processes at once, one per core, and reports their summed speed over the speed
alone. No code is shared between the two processes but the vocabulary files.

    python benchmarks/ceiling.py                      # o200k_base and cl100k_base, all texts
    python benchmarks/ceiling.py --vocab o200k_base --texts code
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import encode  # noqa: E402
from _common import fmt_size, markdown_table, provenance, publish  # noqa: E402


def worker(vocab: str, path: str, rounds: int) -> None:
    """Print the median MB/s of encoding the text of `path` as ~4 KB documents, one call each."""
    import bpe

    text = Path(path).read_text(encoding="utf-8")
    docs = encode.split_docs(text)
    tok = encode.load_bpe(vocab)
    tok.encode_ordinary("warm up é 中")
    speeds = []
    for _ in range(rounds):
        bpe._core.clear_piece_caches()
        t0 = time.perf_counter()
        for d in docs:
            tok.encode_ordinary(d)
        speeds.append(len(text.encode()) / 1e6 / (time.perf_counter() - t0))
    print(json.dumps(statistics.median(speeds)))


def run(vocab: str, path: str, rounds: int, cores: list[int]) -> list[float]:
    """Start one pinned worker per core in `cores`, all at once; their speeds."""
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    procs = [subprocess.Popen(["taskset", "-c", str(c), sys.executable, __file__, "--worker", vocab, path, str(rounds)],
                              stdout=subprocess.PIPE, text=True, env=env) for c in cores]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed: {[p.returncode for p in procs]}")
    return [json.loads(o) for o in outs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", nargs="+", default=["o200k_base", "cl100k_base"])
    ap.add_argument("--texts", nargs="+", default=["english", "code", "chinese"])
    ap.add_argument("--rounds", type=int, default=21, help="timed rounds per worker (median)")
    ap.add_argument("--repeat", type=int, default=2, help="alone/together alternations (best of each)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker[0], args.worker[1], int(args.worker[2]))
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs two cores")
    rows = []
    for vocab in args.vocab:
        for label in args.texts:
            path, _ = encode.text_file(label, label, 1_000_000)  # the same text as encode.py's
            alone, together = [], []
            for _ in range(args.repeat):
                alone.append(run(vocab, str(path), args.rounds, [0])[0])
                together.append(sum(run(vocab, str(path), args.rounds, [0, 1])))
            a, t = max(alone), max(together)
            rows.append([vocab, label, f"{a:.1f}", f"{t:.1f}", f"{t / a:.2f}x"])
            print(*rows[-1], flush=True)
    body = f"""## Two cores at most: the ceiling for batch scaling

{provenance()}
Each text ({fmt_size(1_000_000)}) as ~4 KB documents, one `encode_ordinary` call each, as in `encode.py`'s documents column:
in one process pinned to core 0, then in two processes at once, pinned to cores 0 and 1. MB/s is each worker's median of
{args.rounds} rounds, best of {args.repeat} alternations; "together" sums the two workers. Nothing is shared but the machine,
so together / alone bounds what any batch code can reach on it.

{markdown_table(["vocabulary", "text", "alone MB/s", "together MB/s", "together / alone"], rows)}
"""
    publish("ceiling", body, not args.no_write)


if __name__ == "__main__":
    main()
