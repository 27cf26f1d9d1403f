"""Encoding speed: this project's `bpe` against tiktoken, HF tokenizers and other peers.

One run, the same texts for everyone, the real GPT-2, cl100k_base and o200k_base
vocabularies (see vocabs.py). Before anything is timed, every peer's ids are
compared with ours (with tiktoken's while `bpe` is not importable); a difference is
reported with its first differing position and excluded from nothing: the speed
table still shows it, marked.

Every peer is timed in a process of its own (no other library's threads, tables or heap
beside it, as in a program that uses one tokenizer); the processes are asked for one run at a
time, in --repeat rounds. A round runs every peer in turn, each once untimed and then once
timed, and a figure is the median of a peer's timed runs. The peers compared are thus timed in
the same minutes, so host drift (large on a shared machine) moves them together. Before every
run, an encoder that caches pieces it has seen (ours, HF's) has its cache emptied, so no run is
helped by the runs before it: each encodes the text as at first sight.
  single thread (each process pinned to one core, RAYON_NUM_THREADS=1):
    long   one call on the whole text
    docs   the same text as ~4 KB documents, one call each
    count  token counting of the whole text (len(encode(...)) where a peer has no counter)
    pathological  1 MB of one letter, of spaces, of random punctuation, against prose
  all cores:
    batch  the ~4 KB documents in one batch call; `bpe`'s own one-thread documents loop runs
           in the same process and rounds (--gain-rounds of them), for the batch's gain over
           one thread: the median of the rounds' ratios
    long   one call on the whole text (only `bpe` splits a long text across threads)

Writes its section of benchmarks/RESULTS.md and benchmarks/encode.png.

    python benchmarks/encode.py            # 1 MB per text, 3 rounds (about 10 minutes on 2 cores)
    python benchmarks/encode.py --quick    # 200 KB per text, 2 repetitions
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import vocabs  # noqa: E402
from _common import (CACHE, HERE, bpe_build, command_line, cores, fmt_size, machine,  # noqa: E402
                     markdown_table, median_time, parse_size, version, write_section)

TEXTS = {"english": "english", "code": "code", "chinese": "chinese"}  # label -> corpus kind
PATHOLOGICAL = ("letter", "spaces", "punctuation")
PEERS = ("bpe", "tiktoken", "hf", "bpe-openai", "rs-bpe", "tokie")
PEER_LABEL = {"bpe": "bpe (ours)", "tiktoken": "tiktoken", "hf": "HF tokenizers",
              "bpe-openai": "bpe-openai", "rs-bpe": "rs-bpe", "tokie": "tokie"}
PEER_DIST = {"bpe": "bpe", "tiktoken": "tiktoken", "hf": "tokenizers", "bpe-openai": "bpe-openai",
             "rs-bpe": "rs-bpe", "tokie": "tokie"}


class Peer(NamedTuple):
    encode: Callable[[str], list]                    # one text -> ids
    batch: Callable[[list], list] | None = None      # list of texts -> list of ids, all cores
    count: Callable[[str], int] | None = None        # one text -> number of tokens
    # Empties the encoder's caches of pieces seen before; run before every timed call, so each
    # repetition encodes the text as at first sight (cache hits only where the text repeats itself).
    forget: Callable[[], None] | None = None


# ---------------------------------------------------------------- the peers

def load_peer(name: str, vocab: str) -> Peer | None:
    """A peer's encoder for ``vocab``, or None where the peer has no such vocabulary."""
    if name == "bpe":
        import bpe
        tok = load_bpe(vocab)
        return Peer(tok.encode_ordinary, tok.encode_ordinary_batch, tok.count, bpe._core.clear_piece_caches)
    if name == "tiktoken":
        enc = vocabs.tiktoken_encoding(vocab)
        n = cores()
        return Peer(enc.encode_ordinary, lambda texts: enc.encode_ordinary_batch(texts, num_threads=n))
    if name == "hf":
        tok = vocabs.hf_tokenizer(vocab)
        return Peer(lambda t: tok.encode(t, add_special_tokens=False).ids,
                    lambda ts: [e.ids for e in tok.encode_batch(ts, add_special_tokens=False)],
                    forget=tok.model._clear_cache)
    if name == "bpe-openai":  # rust-gems' bpe-openai crate (backtracking encoder); no batch API
        if vocab == "gpt2":
            return None
        from bpe_openai import _bindings
        tok = _bindings.tokenizer_for_encoding(vocab)
        return Peer(tok.encode, None, tok.count)
    if name == "rs-bpe":  # also built on rust-gems' bpe
        if vocab == "gpt2":
            return None
        from rs_bpe.bpe import openai
        tok = openai.cl100k_base() if vocab == "cl100k_base" else openai.o200k_base()
        return Peer(tok.encode, lambda ts: tok.encode_batch_parallel(ts, None)[0], tok.count)
    if name == "tokie":  # loads the HF tokenizer.json that vocabs.py writes
        import tokie
        tok = tokie.Tokenizer.from_json(str(vocabs.hf_tokenizer_json(vocab)))
        return Peer(lambda t: tok.encode(t, add_special_tokens=False).ids,
                    lambda ts: [e.ids for e in tok.encode_batch(ts, add_special_tokens=False)],
                    tok.count_tokens)
    raise ValueError(name)


def text_file(label: str, kind: str, size: int) -> tuple[Path, str]:
    """The first ``size`` bytes of corpus ``kind`` (cut at a character), written where the timed
    runs read it; and a line saying what it holds."""
    src = corpus.build_corpus(kind, size)
    text = src.read_bytes()[: size].decode("utf-8", errors="ignore")
    path = CACHE / "encode" / f"{label}-{size}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    parts = ", ".join(f"{k} {fmt_size(v['bytes'])}" for k, v in corpus.stats(src).items())
    return path, f"{fmt_size(len(text.encode()))} ({parts})"


def load_bpe(vocab: str):
    """This project's tokenizer for ``vocab``, read from the same files as the peers'."""
    import bpe
    T = bpe.Tokenizer
    if vocab == "gpt2" and hasattr(T, "from_gpt2"):
        return T.from_gpt2(*(str(p) for p in vocabs.gpt2_files()))
    if vocab != "gpt2" and hasattr(T, "from_tiktoken"):
        return T.from_tiktoken(str(vocabs.tiktoken_file(vocab)), pattern=vocabs.BPE_PATTERN[vocab],
                               special_tokens=vocabs.special_tokens(vocab))
    # Without a file reader: tiktoken's own ranks (contiguous from 0), in rank order.
    ranks = vocabs.encoding_spec(vocab)["mergeable_ranks"]
    return T.from_ranks(sorted(ranks, key=ranks.__getitem__), vocabs.special_tokens(vocab), vocabs.BPE_PATTERN[vocab])


def available_peers(names) -> tuple[list[str], dict[str, str]]:
    """Peers whose package imports here, and why the others are left out."""
    modules = {"bpe": "bpe", "tiktoken": "tiktoken", "hf": "tokenizers", "bpe-openai": "bpe_openai",
               "rs-bpe": "rs_bpe", "tokie": "tokie"}
    ok, missing = [], {}
    for name in names:
        proc = subprocess.run([sys.executable, "-c", f"import {modules[name]}"], capture_output=True, text=True)
        if proc.returncode == 0:
            ok.append(name)
        else:
            missing[name] = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "import failed"
    return ok, missing


# ---------------------------------------------------------------- inputs

def split_docs(text: str, size: int = 4096) -> list[str]:
    """Cut ``text`` at line ends into documents of about ``size`` bytes."""
    docs, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line.encode())
        if n >= size:
            docs.append("".join(cur))
            cur, n = [], 0
    if cur:
        docs.append("".join(cur))
    return docs


def pathological(kind: str, size: int) -> str:
    """``size`` bytes of one repeated letter, of spaces, or of random ASCII punctuation."""
    if kind == "letter":
        return "a" * size
    if kind == "spaces":
        return " " * size
    rng = random.Random(0)
    return "".join(rng.choice(string.punctuation) for _ in range(size))


def first_difference(ours: list, theirs: list) -> int | None:
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return i
    return None if len(ours) == len(theirs) else min(len(ours), len(theirs))


# ---------------------------------------------------------------- worker (runs in a subprocess)

def worker(spec: dict) -> None:
    """Check the ids of every peer for one vocabulary, all peers in this process; print one
    JSON object per result. (The timing is done by `serve`, a process per peer.)"""
    emit = lambda **kw: print(json.dumps(kw), flush=True)  # noqa: E731
    vocab = spec["vocab"]
    texts = {label: Path(p).read_text(encoding="utf-8") for label, p in spec["texts"].items()}
    docs = {label: split_docs(t) for label, t in texts.items()}
    peers = {name: peer for name in spec["peers"] if (peer := load_peer(name, vocab)) is not None}

    # Identical ids: every peer against the reference, on every input.
    ref = "bpe" if "bpe" in peers else "tiktoken"
    inputs = dict(texts)
    # (small: some peers are quadratic or worse on one long piece; the timing finds out)
    inputs.update({k: pathological(k, 4096) for k in PATHOLOGICAL})
    for label, text in inputs.items():
        want = peers[ref].encode(text)
        for name, peer in peers.items():
            if name == ref:
                continue
            got = peer.encode(text)
            i = first_difference(want, got)
            emit(kind="parity", vocab=vocab, text=label, peer=name, ref=ref, ok=i is None,
                 at=i, ours=want[max(0, (i or 0) - 3):(i or 0) + 5] if i is not None else None,
                 theirs=got[max(0, (i or 0) - 3):(i or 0) + 5] if i is not None else None,
                 n_ref=len(want), n_peer=len(got))
        for name, peer in peers.items():  # each peer's own batch and counter agree with it
            one = [peer.encode(d) for d in docs.get(label, [])]
            if peer.batch and label in docs and peer.batch(docs[label]) != one:
                emit(kind="parity", vocab=vocab, text=label, peer=name, ref=f"{name} one by one",
                     ok=False, at=None, what="batch")
            if peer.count and peer.count(text) != len(peer.encode(text)):
                emit(kind="parity", vocab=vocab, text=label, peer=name, ref=f"{name} encode",
                     ok=False, at=None, what="count")


def time_pathological(peer: Peer, label: str, spec: dict) -> dict:
    """Seconds of one pathological input on `peer`, grown 4x at a time up to `patho_size`,
    stopping early where one call exceeds the budget: a quadratic encoder reports its speed
    where it gave up."""
    size = 4096
    try:
        while True:
            text = pathological(label, size)
            t0 = time.perf_counter()
            peer.encode(text)  # warm-up, and a guard: a 4x larger input may take 16x as long
            if size >= spec["patho_size"] or (time.perf_counter() - t0) * 16 > spec["patho_budget"]:
                break
            size = min(size * 4, spec["patho_size"])
        secs = median_time(lambda: peer.encode(text), max(1, spec["repeat"] // 2), warmup=0, before=peer.forget)
    except BaseException as e:  # a panic in a peer's Rust code is a BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return dict(kind="error", bytes=size, error=f"{type(e).__name__} ({str(e).rsplit(': ', 1)[-1][:60]})")
    return dict(kind="seconds", bytes=size, seconds=secs)


def serve(spec: dict) -> None:
    """A server (runs in a subprocess): one peer, timed on request.

    Each peer runs in a process of its own, so no other library's threads, tables or heap
    share the process with it, as in a program that uses one tokenizer. The parent still
    interleaves the peers round by round: it asks each process in turn for one run (a line on
    stdin: the function and the text), and the process answers with the seconds of one timed
    run after an untimed one. An idle process waits on stdin and costs nothing. With
    ``spec["single"]`` the process is pinned to one core (the parent sets one thread)."""
    if spec["single"] and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    emit = lambda **kw: print(json.dumps(kw), flush=True)  # noqa: E731
    (name,) = spec["peers"]
    texts = {label: Path(p).read_text(encoding="utf-8") for label, p in spec["texts"].items()}
    docs = {label: split_docs(t) for label, t in texts.items()}
    t0 = time.perf_counter()
    peer = load_peer(name, spec["vocab"])
    if peer is None or (not spec["single"] and peer.batch is None):
        return emit(kind="none")
    emit(kind="load", vocab=spec["vocab"], peer=name, seconds=time.perf_counter() - t0)
    fns = {
        "long": lambda label: peer.encode(texts[label]),
        "docs": lambda label: [peer.encode(d) for d in docs[label]],
        "count": lambda label: peer.count(texts[label]) if peer.count else len(peer.encode(texts[label])),
        "batch": lambda label: peer.batch(docs[label]),
    }
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["fn"] == "pathological":
            emit(**time_pathological(peer, cmd["text"], spec))
            continue
        fn, label = fns[cmd["fn"]], cmd["text"]
        for _ in range(2):  # untimed, then timed
            if peer.forget is not None:
                peer.forget()
            t0, c0 = time.perf_counter(), time.process_time()
            fn(label)
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        emit(kind="seconds", seconds=secs, cpu=cpu)


class Servers:
    """A `serve` process for each peer of ``spec`` that has what the mode needs, asked for one
    run at a time. Records of loads and failures go to ``out``."""

    def __init__(self, spec: dict, out: list):
        self.vocab, self.out, self.mode = spec["vocab"], out, "single" if spec["single"] else "batch"
        threads = "1" if spec["single"] else str(cores())
        env = dict(os.environ, RAYON_NUM_THREADS=threads, TOKENIZERS_PARALLELISM=str(not spec["single"]).lower())
        self.procs = {}
        for name in spec["peers"]:
            proc = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps({**spec, "peers": [name]})],
                                    env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            first = json.loads(proc.stdout.readline() or '{"kind": "failed"}')
            if first["kind"] == "load":
                self.procs[name] = proc
                out.append(first)
                continue
            proc.stdin.close()
            proc.wait()
            if first["kind"] == "failed":
                self.failed(name, "failed to start")

    def failed(self, name: str, what: str) -> None:
        print(f"  {self.mode} server {what}: {name} {self.vocab}", flush=True)
        self.out.append(dict(kind="worker-failed", vocab=self.vocab, mode=f"{self.mode} ({name})"))

    def ask(self, name: str, fn: str, label: str) -> dict | None:
        """The server's answer to one request, or None where there is no server (any more)."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        try:
            proc.stdin.write(json.dumps({"fn": fn, "text": label}) + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())
        except (BrokenPipeError, ValueError):  # the server died (a peer's panic)
            self.procs.pop(name)
            proc.kill()
            self.failed(name, f"died ({label} {fn})")
            return None

    def seconds(self, name: str, fn: str, label: str) -> float | None:
        return (self.timing(name, fn, label) or (None, None))[0]

    def timing(self, name: str, fn: str, label: str) -> tuple[float, float] | None:
        """Seconds of one run, and the CPU seconds of all the server's threads in it."""
        reply = self.ask(name, fn, label)
        return None if reply is None else (reply["seconds"], reply["cpu"])

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stdin.close()
            proc.wait()


def time_record(vocab: str, label: str, name: str, mode: str, nbytes: int, secs: float) -> dict:
    kind = "single" if mode in ("long", "docs", "count", "pathological") else "batch"
    print(f"  {kind:6} {vocab:11} {label:11} {mode:13} {name:10} {nbytes / secs / 1e6:8.2f} MB/s", flush=True)
    return dict(kind="time", vocab=vocab, text=label, peer=name, mode=mode, bytes=nbytes, seconds=secs)


def run_single(spec: dict) -> list[dict]:
    """One core: the ids checked (all peers in one process, `worker`), then every peer timed in
    a process of its own (`serve`), round by round: each figure is the median of `repeat`
    timed runs, and a round asks every peer in turn."""
    out = run_worker(spec)
    servers = Servers({**spec, "single": True}, out)
    vocab = spec["vocab"]
    for label, path in spec["texts"].items():
        nbytes = len(Path(path).read_bytes())
        for mode in ("long", "docs", "count"):
            times = {}
            for _ in range(spec["repeat"]):
                for name in list(servers.procs):
                    if (secs := servers.seconds(name, mode, label)) is not None:
                        times.setdefault(name, []).append(secs)
            for name, ts in times.items():
                if len(ts) == spec["repeat"]:
                    out.append(time_record(vocab, label, name, mode, nbytes, statistics.median(ts)))
    for label in PATHOLOGICAL:
        for name in list(servers.procs):
            reply = servers.ask(name, "pathological", label)
            if reply is None:
                continue
            if reply["kind"] == "error":
                print(f"  ERROR {name} {vocab} {label}: {reply['error']}", flush=True)
                out.append(dict(kind="error", vocab=vocab, text=label, peer=name, mode="pathological",
                                bytes=reply["bytes"], error=reply["error"]))
            else:
                out.append(time_record(vocab, label, name, "pathological", reply["bytes"], reply["seconds"]))
    servers.close()
    return out


def run_batch(spec: dict) -> list[dict]:
    """The batch mode for one vocabulary: a server process per peer (see `serve`), asked for
    runs round by round. `bpe`'s batch and its own one-thread loop run for `gain_rounds`
    rounds, the other peers' batches in the first `repeat` of them; the gain is the median of
    the rounds' ratios (one-thread time / batch time), each ratio of two runs seconds apart."""
    out = []
    servers = Servers({**spec, "single": False}, out)
    vocab = spec["vocab"]
    for label, path in spec["texts"].items():
        nbytes = len(Path(path).read_bytes())
        times, cpus = {}, {}
        runs = [("bpe", "docs"), ("bpe", "batch")] + [(n, "batch") for n in spec["peers"] if n != "bpe"]
        for r in range(max(spec["repeat"], spec["gain_rounds"])):
            for name, fn in runs:
                if name != "bpe" and r >= spec["repeat"]:
                    continue
                if (timing := servers.timing(name, fn, label)) is not None:
                    times.setdefault((name, fn), []).append(timing[0])
                    cpus.setdefault((name, fn), []).append(timing[1])
        if "bpe" in servers.procs:
            times[("bpe", "long")] = [servers.seconds("bpe", "long", label) for _ in range(spec["repeat"])]
        for (name, fn), ts in times.items():
            if None in ts:
                continue
            mode = {"docs": "docs-alongside", "batch": "batch", "long": "long-parallel"}[fn]
            out.append(time_record(vocab, label, name, mode, nbytes, statistics.median(ts)))
        loop, batch = times.get(("bpe", "docs"), []), times.get(("bpe", "batch"), [])
        if loop and len(loop) == len(batch):
            ratios = sorted(a / b for a, b in zip(loop, batch))
            # The batch's CPU time (both threads) over the loop's: above 1, the batch did more work
            # for the same text; at 1 with a gain short of 2, the second core gave less than one.
            work = statistics.median(b / a for a, b in zip(cpus[("bpe", "docs")], cpus[("bpe", "batch")]))
            out.append(dict(kind="gain", vocab=vocab, text=label, ratio=statistics.median(ratios), rounds=len(ratios),
                            low=ratios[0], high=ratios[-1], cpu_ratio=work))
    servers.close()
    return out


def run_worker(spec: dict) -> list[dict]:
    """`worker` in a subprocess: its records, with differences printed as they come."""
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = []
    for line in proc.stdout:
        rec = json.loads(line)
        out.append(rec)
        if rec["kind"] == "parity" and not rec["ok"]:
            print(f"  DIFFERENCE {rec}", flush=True)
    if proc.wait() != 0:  # keep what it found; the report says what is missing
        print(f"  worker failed: ids {spec['vocab']} (exit {proc.returncode})", flush=True)
        out.append(dict(kind="worker-failed", vocab=spec["vocab"], mode="ids"))
    return out


# ---------------------------------------------------------------- report

def report(records: list[dict], peers: list[str], missing: dict, text_info: dict, args) -> str:
    times = {(r["vocab"], r["text"], r["mode"], r["peer"]): r for r in records if r["kind"] == "time"}
    parity = [r for r in records if r["kind"] == "parity"]
    bad = [r for r in parity if not r["ok"]]
    mbs = lambda r: r["bytes"] / r["seconds"] / 1e6  # noqa: E731
    num = lambda x: f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2g}"  # noqa: E731
    vocab_names = [v for v in vocabs.ENCODINGS if any(k[0] == v for k in times)]

    def table(mode: str, texts, note: str = "") -> str:
        cols = [p for p in peers if any(k[2] == mode and k[3] == p for k in times)]
        if not cols:
            return "(not measured in this run)"
        rows = []
        for v in vocab_names:
            for t in texts:
                base = times.get((v, t, mode, "tiktoken"))
                row = [v, t]
                for p in cols:
                    r = times.get((v, t, mode, p))
                    if r is None:
                        row.append("–")
                        continue
                    cell = num(mbs(r))
                    if base and p != "tiktoken":
                        cell += f" ({mbs(r) / mbs(base):.2f}x)"
                    if any(b["vocab"] == v and b["text"] == t and b["peer"] == p for b in bad):
                        cell += " ≠"
                    row.append(cell)
                rows.append(row)
        return note + markdown_table(["vocabulary", "text", *[PEER_LABEL[p] for p in cols]], rows)

    errors = {(r["vocab"], r["text"], r["mode"], r["peer"]): r for r in records if r["kind"] == "error"}

    def patho_table() -> str:
        cols = [p for p in peers if any(k[2] == "pathological" and k[3] == p for k in [*times, *errors])]
        rows = []
        for v in vocab_names:
            for t in PATHOLOGICAL:
                row = [v, t]
                for p in cols:
                    r, prose = times.get((v, t, "pathological", p)), times.get((v, "english", "long", p))
                    err = errors.get((v, t, "pathological", p))
                    if err is not None:
                        row.append(f"fails at {fmt_size(err['bytes'])}: {err['error']}")
                        continue
                    if r is None:
                        row.append("–")
                        continue
                    cell = num(mbs(r))
                    if prose:
                        cell += f" ({num(mbs(r) / mbs(prose))} of prose)"
                    if r["bytes"] < args.patho_size:
                        cell += f" [at {fmt_size(r['bytes'])}]"
                    row.append(cell)
                rows.append(row)
        return markdown_table(["vocabulary", "input", *[PEER_LABEL[p] for p in cols]], rows)

    gains = {(r["vocab"], r["text"]): r for r in records if r["kind"] == "gain"}

    def gain_table() -> str:
        rows = []
        for v in vocab_names:
            for t in TEXTS:
                batch, alongside = times.get((v, t, "batch", "bpe")), times.get((v, t, "docs-alongside", "bpe"))
                single, gain = times.get((v, t, "docs", "bpe")), gains.get((v, t))
                if batch is None:
                    continue
                rows.append([v, t, num(mbs(alongside)) if alongside else "–", num(mbs(batch)),
                             f"**{gain['ratio']:.2f}x** ({gain['low']:.2f}-{gain['high']:.2f})" if gain else "–",
                             f"{gain['cpu_ratio']:.2f}" if gain and "cpu_ratio" in gain else "–",
                             f"{mbs(batch) / mbs(single):.2f}x" if single else "–"])
        if not rows:
            return "(not measured in this run)"
        return markdown_table(["vocabulary", "text", "one thread, same rounds", f"batch, {cores()} threads",
                               "gain: median of the rounds (lowest-highest)", "CPU time, batch / one thread",
                               "gain against the single-thread table"], rows)

    n_checked = len([r for r in parity if r["ref"] in ("bpe", "tiktoken")])
    failed = [f"{r['mode']} {r['vocab']}" for r in records if r["kind"] == "worker-failed"]
    failed_text = f"\n\n**Incomplete:** the worker for {', '.join(failed)} failed; its rows are missing." if failed else ""
    ref = "`bpe`" if "bpe" in peers else "tiktoken (`bpe` was not importable)"
    if bad:
        diffs = "\n".join(
            f"- {r['peer']} vs {r['ref']}, {r['vocab']}, {r['text']}: "
            + (f"first difference at token {r['at']} (ours {r['ours']}, theirs {r['theirs']}; "
               f"{r['n_ref']} vs {r['n_peer']} tokens)" if r.get("what") is None else f"{r['what']} differs")
            for r in bad)
        parity_text = f"**Differences in ids** (reference {ref}; cells marked ≠ below):\n{diffs}"
    else:
        parity_text = f"Ids identical: every peer gave exactly the reference's ids ({ref}) in all {n_checked} comparisons."
    peer_versions = ", ".join(f"{PEER_LABEL[p]} {version(PEER_DIST[p])}" for p in peers)
    left_out = "; ".join(f"{PEER_LABEL[p]}: {why}" for p, why in missing.items()) or "none"
    texts_line = "; ".join(f"{k}: {v}" for k, v in text_info.items())
    count_note = "tiktoken and HF tokenizers have no counter: `len(encode(text))`.\n\n"
    batch_note = (f"Each peer in a process of its own (no other library loaded), asked for one run at a time, round by round. "
                  f"tiktoken: `encode_ordinary_batch(num_threads={cores()})`; HF and tokie: `encode_batch`; "
                  f"rs-bpe: `encode_batch_parallel`; bpe: `encode_ordinary_batch`; median of {args.repeat} rounds "
                  f"(bpe: of {args.gain_rounds}).\n\n")
    return f"""## Encoding speed

Machine: {machine()}, load average {args.load:.1f} at the start (a shared machine). Command: `{command_line()}`.
Peers: {peer_versions}. Left out: {left_out}. Measured: {bpe_build()}.
Texts: {texts_line}; the same text is also cut at line ends into ~4 KB documents.
Each peer in a process of its own (no other library beside it), pinned to one core; median of {args.repeat} timed runs, in rounds that run every peer in turn (each once untimed, then once timed), so the figures compared come from the same minutes; every run at first sight: the piece caches of bpe and HF tokenizers are emptied before every run, so only repeats within the text itself hit them; MB/s (10^6 bytes of UTF-8 per second), in brackets the ratio to tiktoken.
bpe-openai and rs-bpe (both built on rust-gems' `bpe`) ship cl100k_base and o200k_base only.

{parity_text}{failed_text}

### Single thread, one call on the whole text

{table("long", TEXTS)}

### Single thread, ~4 KB documents, one call each

{table("docs", TEXTS)}

### Single thread, counting tokens of the whole text

{table("count", TEXTS, count_note)}

### All {cores()} cores, the ~4 KB documents in one batch call

{table("batch", TEXTS, batch_note)}

`bpe`'s batch against its own one-thread documents loop, in {args.gain_rounds} rounds that alternate the two in one process (MB/s: medians). The gain is the median of the rounds' ratios, each of two runs seconds apart, with the lowest and highest ratio. "CPU time" is the median over the rounds of the batch's CPU seconds (both threads) over the loop's: near 1, the batch costs the loop's CPU time and no more, so a gain short of 2 is time the second core did not give; above 1, its threads took longer for the same work, from extra work or from cores that run slower while both are busy (caches or a core's sibling shared on the host); the last column divides by the single-thread documents table above instead, timed in another process minutes apart. `python benchmarks/ceiling.py` measures what two cores of this machine give at most: two independent single-thread processes against one.

{gain_table()}

### All {cores()} cores, one call on the whole text (`bpe` splits long texts across threads)

{table("long-parallel", TEXTS)}

### Pathological inputs, single thread

{fmt_size(args.patho_size)} of `a`, of spaces, of random ASCII punctuation: MB/s and the fraction of the same encoder's speed on English prose ([at N] where a call took too long to go further).

{patho_table()}
"""


def chart(records: list[dict], peers: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = {(r["vocab"], r["text"], r["mode"], r["peer"]): r["bytes"] / r["seconds"] / 1e6
             for r in records if r["kind"] == "time"}
    groups = [(v, t) for v in vocabs.ENCODINGS for t in TEXTS if any(k[:2] == (v, t) for k in times)]
    panels = [("long", "single thread, one call"), ("batch", f"batch of 4 KB documents, {cores()} cores")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 8), constrained_layout=True)
    width = 0.8 / len(peers)
    colour = {p: f"C{i}" for i, p in enumerate(PEERS)}  # the same colour for a peer in every panel
    for ax, (mode, title) in zip(axes, panels):
        for i, p in enumerate(peers):
            xs = [g for g, (v, t) in enumerate(groups) if (v, t, mode, p) in times]
            if xs:
                ax.bar([x + i * width for x in xs], [times[(*groups[x], mode, p)] for x in xs], width,
                       label=PEER_LABEL[p], color=colour[p])
        ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{v}\n{t}" for v, t in groups], fontsize=8)
        ax.set_ylabel("MB/s")
        ax.set_title(title)
        ax.legend(fontsize=8, ncol=len(peers))
    fig.suptitle(f"Encoding speed, MB/s, higher is better ({machine().split(',')[0]}, {cores()} cores)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default=None, help="bytes per text (default 1MB; --quick: 200KB)")
    ap.add_argument("--repeat", type=int, default=None, help="timed repetitions (default 3; --quick: 2)")
    ap.add_argument("--vocab", nargs="+", default=list(vocabs.ENCODINGS), choices=vocabs.ENCODINGS)
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    ap.add_argument("--quick", action="store_true", help="small texts, few repetitions: a smoke test")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md and the PNG alone")
    ap.add_argument("--gain-rounds", type=int, default=21,
                    help="rounds of bpe's batch against its one-thread loop (default 21)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    if args.serve:
        return serve(json.loads(args.serve))
    size = parse_size(args.size or ("200KB" if args.quick else "1MB"))
    args.repeat = args.repeat or (2 if args.quick else 3)
    args.patho_size = 100_000 if args.quick else 1_000_000

    args.load = os.getloadavg()[0]
    peers, missing = available_peers(args.peers)
    print(f"peers: {', '.join(peers)}" + (f"; left out: {missing}" if missing else ""))
    texts, text_info = {}, {}
    for label, kind in TEXTS.items():
        path, text_info[label] = text_file(label, kind, size)
        texts[label] = str(path)
    records = []
    for vocab in args.vocab:
        spec = dict(vocab=vocab, peers=peers, texts=texts, repeat=args.repeat,
                    patho_size=args.patho_size, patho_budget=10.0, gain_rounds=args.gain_rounds)
        records += run_single(spec)
        records += run_batch(spec)
    body = report(records, peers, missing, text_info, args)
    print(body)
    if not args.no_write:
        write_section("encode", body)
        chart(records, peers, HERE / "encode.png")
        (CACHE / "encode" / "last.json").write_text(json.dumps(records))
        print(f"wrote {HERE / 'RESULTS.md'} and {HERE / 'encode.png'}")


if __name__ == "__main__":
    main()
