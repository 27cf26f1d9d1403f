"""Training speed and memory: this project's `bpe` against HF tokenizers, rustbpe and bpeasy.

One run, one corpus (corpus.py; default the 82 MB mixed one), the GPT-2 pattern,
each training in a fresh subprocess so that its peak memory (max RSS, from wait4)
is its own. Two settings:

  vocab 50,257      256 bytes + 50,000 merges + <|endoftext|>, GPT-2's layout
  40,000 merges     256 bytes + 40,000 merges + 5 special tokens (cl100k's)

at 1 thread (process pinned to one core, RAYON_NUM_THREADS=1) and at all cores.
Seconds are measured inside the subprocess from the file on disk to the trained
tokenizer (interpreter start-up and imports excluded); then the held-out Python
source (corpus.heldout_text) is encoded by each result in its own library to give
bytes per token. Median of --repeat runs.

`bpe` gets the file path; the peers get an iterator over the file in ~4 KB blocks cut
where no GPT-2 pre-token can span the cut, so all see the same pre-tokens.

    python benchmarks/train.py                       # 82 MB mixed corpus
    python benchmarks/train.py --quick               # 5 MB, one run: a smoke test
    python benchmarks/train.py --scaling             # 100 MB, 300 MB, 1 GB of kernel C + docs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
from _common import (CACHE, HERE, bpe_build, command_line, cores, fmt_size, machine, markdown_table,  # noqa: E402
                     parse_size, version, write_section)

TRAINERS = ("bpe", "hf", "rustbpe", "bpeasy")
LABEL = {"bpe": "bpe (ours)", "hf": "HF tokenizers", "rustbpe": "rustbpe", "bpeasy": "bpeasy"}
DIST = {"bpe": "bpe", "hf": "tokenizers", "rustbpe": "rustbpe", "bpeasy": "bpeasy"}
MODULE = {"bpe": "bpe", "hf": "tokenizers", "rustbpe": "rustbpe", "bpeasy": "bpeasy"}
CL100K_SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"]
SETTINGS = {  # name -> (merges, special tokens)
    "vocab 50,257": (50_000, ["<|endoftext|>"]),
    "40,000 merges + specials": (40_000, CL100K_SPECIALS),
}


# ---------------------------------------------------------------- one training (in a subprocess)

def _blocks(path: str, size: int = 4096):
    """The file as ~``size``-byte documents, cut only at a newline between two non-spaces.

    Under the GPT-2 pattern no pre-token spans such a cut (a newline before a non-space
    there is a piece of its own), so every trainer sees exactly the pre-tokens of the whole
    file. Cutting at every line instead would hide newline + indentation pieces, worth
    several percent of compression on source code.
    """
    cut = re.compile(r"(?<=\S)\n(?=\S)")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        rest = ""
        for chunk in iter(lambda: f.read(1 << 20), ""):
            text, start = rest + chunk, 0
            while True:
                m = cut.search(text, start + size)
                if m is None:
                    break
                yield text[start:m.end()]
                start = m.end()
            rest = text[start:]
        if rest:
            yield rest


def train_one(spec: dict) -> dict:
    """Train one tokenizer as ``spec`` says; returns seconds, merges and held-out token count."""
    # The pattern comes in the spec: building it here (tiktoken's encoding spec, with GPT-2's
    # ranks) would add some 45 MB to every trainer's peak memory.
    pattern = spec["pattern"]
    merges, specials, path, threads = spec["merges"], spec["specials"], spec["corpus"], spec["threads"]
    heldout = Path(spec["heldout"]).read_text(encoding="utf-8")
    name = spec["trainer"]
    if name == "bpe":
        import bpe
        t0 = time.perf_counter()
        tok = bpe.train([path], 256 + merges + len(specials), "gpt2", specials, threads=threads, progress=False)
        seconds = time.perf_counter() - t0
        tokens = len(tok.encode_ordinary(heldout))
        n_vocab = tok.n_vocab
        merged = [tok.token_bytes(i) for i in range(256, n_vocab - len(specials))]
    elif name == "hf":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        t0 = time.perf_counter()
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)  # GPT-2's regex
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=256 + merges + len(specials), special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      min_frequency=0, show_progress=False)
        tok.train_from_iterator(_blocks(path), trainer)
        seconds = time.perf_counter() - t0
        tokens = len(tok.encode(heldout, add_special_tokens=False).ids)
        n_vocab = tok.get_vocab_size()
        import vocabs  # only its byte table

        from_unicode = {c: b for b, c in vocabs._bytes_to_unicode().items()}
        merged = [bytes(from_unicode[c] for c in "".join(pair if isinstance(pair, list) else pair.split(" ")))
                  for pair in json.loads(tok.to_str())["model"]["merges"]]
    elif name == "rustbpe":
        import rustbpe
        t0 = time.perf_counter()
        tok = rustbpe.Tokenizer()
        tok.train_from_iterator(_blocks(path), 256 + merges, pattern=pattern)
        seconds = time.perf_counter() - t0
        tokens = len(tok.encode(heldout))
        n_vocab = tok.vocab_size + len(specials)  # rustbpe has no special tokens
        merged = [t for t, rank in sorted(tok.get_mergeable_ranks(), key=lambda tr: tr[1]) if rank >= 256]
    elif name == "bpeasy":
        import bpeasy
        from bpeasy.tokenizer import BPEasyTokenizer
        t0 = time.perf_counter()
        vocab = bpeasy.train_bpe(_blocks(path), pattern, 128, 256 + merges)
        seconds = time.perf_counter() - t0
        tok = BPEasyTokenizer(vocab, regex_pattern=pattern, special_tokens=specials)  # tiktoken underneath
        tokens = len(tok.encode(heldout, disallowed_special=()))
        n_vocab = len(vocab) + len(specials)
        merged = [t for t, rank in sorted(vocab.items(), key=lambda tr: tr[1]) if rank >= 256]
    else:
        raise ValueError(name)
    merges_file = Path(spec["merges_out"])
    merges_file.write_text("\n".join(t.hex() for t in merged))
    return {"seconds": seconds, "tokens": tokens, "heldout_bytes": len(heldout.encode()), "n_vocab": n_vocab,
            "merges_done": len(merged)}


def same_merges(ours: Path, theirs: Path) -> str:
    """How far two merge lists (one token per line, in merge order) agree."""
    a, b = ours.read_text().split("\n"), theirs.read_text().split("\n")
    if a == b:
        return "identical"
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    shared = len(set(a) & set(b)) / max(len(a), len(b))
    return f"same first {first:,}; {100 * shared:.2f}% of tokens shared"


def run_one(spec: dict) -> dict:
    """Run :func:`train_one` in a fresh process; add its peak RSS (bytes) and exit status."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(spec["threads"]),
               TOKENIZERS_PARALLELISM="true" if spec["threads"] > 1 else "false")
    CACHE.mkdir(parents=True, exist_ok=True)
    out_path = CACHE / f"train-worker-{os.getpid()}.json"
    out_path.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec), "--worker-out", str(out_path)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: ru_maxrss in KiB
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out_path.exists():
        return {"error": (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1], "wall": wall}
    rec = json.loads(out_path.read_text())
    out_path.unlink()
    rec.update(peak_rss=usage.ru_maxrss * 1024, wall=wall)
    return rec


# ---------------------------------------------------------------- runs and report

def available(names) -> tuple[list[str], dict[str, str]]:
    ok, missing = [], {}
    for n in names:
        proc = subprocess.run([sys.executable, "-c", f"import {MODULE[n]}"], capture_output=True, text=True)
        if proc.returncode == 0:
            ok.append(n)
        else:
            missing[n] = (proc.stderr.strip().splitlines() or ["import failed"])[-1]
    return ok, missing


def measure(trainer: str, corpus_path: Path, merges: int, specials: list, threads: int, repeat: int) -> dict:
    merges_out = CACHE / "train" / f"{trainer}-{merges}-{threads}.merges"
    merges_out.parent.mkdir(parents=True, exist_ok=True)
    import vocabs

    spec = dict(trainer=trainer, corpus=str(corpus_path), heldout=str(corpus.heldout_path()),
                merges=merges, specials=specials, threads=threads, merges_out=str(merges_out),
                pattern=vocabs.pattern("gpt2"))
    runs = []
    for _ in range(repeat):
        rec = run_one(spec)
        if "error" in rec:  # once more: a package being rebuilt under us fails for a moment
            print(f"    {trainer} failed ({rec['error']}); retrying in 30 s", flush=True)
            time.sleep(30)
            rec = run_one(spec)
        if "error" in rec:
            print(f"    {trainer} failed: {rec['error']}", flush=True)
            return rec
        runs.append(rec)
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    rec = dict(runs[0], seconds=med("seconds"), peak_rss=med("peak_rss"), wall=med("wall"),
               all_seconds=[round(r["seconds"], 2) for r in runs])
    rec["bytes_per_token"] = rec["heldout_bytes"] / rec["tokens"]
    rec["merges_file"] = str(merges_out)
    print(f"    {trainer:8} {threads} thr  {rec['seconds']:7.2f} s  {fmt_size(rec['peak_rss']):>9}  "
          f"{rec['bytes_per_token']:.4f} bytes/token  (runs: {rec['all_seconds']})", flush=True)
    return rec


def compare_table(results: dict, trainers: list, thread_counts: list) -> str:
    rows = []
    for setting in SETTINGS:
        for threads in thread_counts:
            rust = results.get((setting, threads, "rustbpe"), {})
            hf = results.get((setting, threads, "hf"), {})
            for t in trainers:
                r = results.get((setting, threads, t))
                if r is None:
                    continue
                if "error" in r:
                    rows.append([setting, threads, LABEL[t], "failed: " + r["error"][:80], "", "", "", "", ""])
                    continue
                vs = f"{rust['seconds'] / r['seconds']:.2f}x" if rust.get("seconds") else "–"
                mem = f"{r['peak_rss'] / rust['peak_rss']:.2f}x" if rust.get("peak_rss") else "–"
                bpt = f"{r['bytes_per_token']:.4f}"
                if hf.get("bytes_per_token") and t != "hf":
                    bpt += f" ({100 * (r['bytes_per_token'] / hf['bytes_per_token'] - 1):+.2f}% vs HF)"
                ours = results.get((setting, threads, "bpe"), {})
                same = ("–" if t == "bpe" or "merges_file" not in ours
                        else same_merges(Path(ours["merges_file"]), Path(r["merges_file"])))
                rows.append([setting, threads, LABEL[t], f"{r['seconds']:.2f}", vs, fmt_size(r["peak_rss"]),
                             mem, bpt, same])
    return markdown_table(["setting", "threads", "trainer", "seconds", "speed vs rustbpe", "peak memory",
                           "memory vs rustbpe", "bytes/token held out", "merges vs bpe"], rows)


def chart(results: dict, trainers: list, thread_counts: list, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    groups = [(s, t) for s in SETTINGS for t in thread_counts]
    width = 0.8 / len(trainers)
    for ax, key, unit, scale in ((axes[0], "seconds", "seconds", 1), (axes[1], "peak_rss", "peak memory (MB)", 1e6)):
        for i, tr in enumerate(trainers):
            xs = [g for g, (s, t) in enumerate(groups) if "error" not in results.get((s, t, tr), {"error": 1})]
            ax.bar([x + i * width for x in xs], [results[(*groups[x], tr)][key] / scale for x in xs], width,
                   label=LABEL[tr])
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{s.replace(' merges + specials', ' + sp.')}\n{t} thread{'s' if t > 1 else ''}"
                            for s, t in groups], fontsize=8)
        ax.set_ylabel(unit)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
        ax.margins(y=0.15)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scaling_chart(rows: list, trainers: list, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    for tr in trainers:
        pts = [(size, r) for size, t, r in rows if t == tr and "error" not in r]
        if not pts:
            continue
        xs = [s / 1e6 for s, _ in pts]
        axes[0].plot(xs, [r["seconds"] for _, r in pts], "o-", label=LABEL[tr])
        axes[1].plot(xs, [r["peak_rss"] / 1e6 for _, r in pts], "o-", label=LABEL[tr])
    for ax, unit in zip(axes, ("seconds", "peak memory (MB)")):
        ax.set_xlabel("corpus (MB of kernel C code + Documentation)")
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Training time and memory vs corpus size, vocab 50,257, {cores()} threads ({machine().split(',')[0]})",
                 fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", default="mixed", help="corpus kind (corpus.py); default mixed")
    ap.add_argument("--size", default=None, help="corpus size, e.g. 20MB (default: 82 MB mixed; --quick: 5MB)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per measurement (default 3; --quick: 1)")
    ap.add_argument("--trainers", nargs="+", default=list(TRAINERS), choices=TRAINERS)
    ap.add_argument("--threads", nargs="+", type=int, default=None, help=f"default: 1 and {cores()}")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--scaling", action="store_true", help="time and memory vs corpus size (kernel corpus)")
    ap.add_argument("--scaling-sizes", nargs="+", default=["100MB", "300MB", "1GB"])
    ap.add_argument("--quick", action="store_true", help="small corpus, one run: a smoke test")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md and the PNGs alone")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        if spec["threads"] == 1 and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        Path(args.worker_out).write_text(json.dumps(train_one(spec)))
        return
    repeat = args.repeat or (1 if args.quick else 3)
    trainers, missing = available(args.trainers)
    print(f"trainers: {', '.join(trainers)}" + (f"; left out: {missing}" if missing else ""))
    versions = ", ".join(f"{LABEL[t]} {version(DIST[t])}" for t in trainers)
    left_out = "; ".join(f"{LABEL[t]}: {why}" for t, why in missing.items()) or "none"
    heldout = corpus.heldout_path()
    head = (f"Machine: {machine()}, load average {os.getloadavg()[0]:.1f} at the start (a shared machine). "
            f"Command: `{command_line()}`.\nTrainers: {versions}. Left out: {left_out}. Measured: {bpe_build()}.\n"
            f"Held-out text: {fmt_size(heldout.stat().st_size)} of Python standard-library source "
            f"(1 file in {corpus.HELDOUT_BUCKETS}, never in a corpus). GPT-2 pattern for every trainer.")

    if args.scaling:
        sizes = [parse_size(s) for s in (["20MB", "40MB"] if args.quick else args.scaling_sizes)]
        threads = max(args.threads or [cores()])
        merges, specials = SETTINGS["vocab 50,257"]
        rows = []
        for size in sizes:
            path = corpus.build_corpus("kernel", size)
            print(f"{fmt_size(size)} kernel corpus: {path}")
            for t in trainers:
                rows.append((size, t, measure(t, path, merges, specials, threads, repeat)))
        table = markdown_table(
            ["corpus", "trainer", "seconds", "peak memory", "bytes/token held out"],
            [[fmt_size(s), LABEL[t], f"{r['seconds']:.1f}" if "error" not in r else "failed: " + r["error"][:60],
              fmt_size(r["peak_rss"]) if "error" not in r else "", f"{r['bytes_per_token']:.4f}" if "error" not in r else ""]
             for s, t, r in rows])
        body = (f"## Training: time and memory vs corpus size\n\n{head}\nCorpus: kernel C code + Documentation "
                f"(`corpus.py --kind kernel`), vocab 50,257, {threads} threads, median of {repeat}.\n\n{table}\n\n"
                f"![scaling](train_scaling.png)\n")
        print(body)
        if not args.no_write:
            write_section("train-scaling", body)
            scaling_chart(rows, trainers, HERE / "train_scaling.png")
        return

    size = parse_size(args.size or ("5MB" if args.quick else None))
    path = corpus.build_corpus(args.kind, size)
    print(corpus.describe(path))
    thread_counts = args.threads or sorted({1, cores()})
    results = {}
    for setting in args.settings:
        merges, specials = SETTINGS[setting]
        for threads in thread_counts:
            print(f"{setting}, {threads} thread(s):", flush=True)
            for t in trainers:
                results[(setting, threads, t)] = measure(t, path, merges, specials, threads, repeat)
    parts = ", ".join(f"{k} {fmt_size(v['bytes'])}" for k, v in corpus.stats(path).items())
    body = (f"## Training speed and memory\n\n{head}\nCorpus: {fmt_size(path.stat().st_size)} `{args.kind}` "
            f"({parts}). Median of {repeat} run(s); seconds from the file on disk to the trained tokenizer, "
            f"inside the process; peak memory is the whole process's max RSS.\n\n"
            f"{compare_table(results, trainers, thread_counts)}\n\n![training](train.png)\n")
    print(body)
    if not args.no_write:
        write_section("train", body)
        chart(results, trainers, thread_counts, HERE / "train.png",
              f"Training on {fmt_size(path.stat().st_size)} ({machine().split(',')[0]})")


if __name__ == "__main__":
    main()
