"""The whole job in one command: corpus -> tokenizer -> shards -> GPT -> bits per byte -> samples.

    bpe-gpt pipeline                       # the Python standard library's source, 15 minutes on 2 CPU cores
    bpe-gpt pipeline docs/*.txt --train-seconds 120

Ctrl-C during training ends it early (a checkpoint is saved) and the report follows.

The default corpus is every `*.py` file of this Python's standard library
(`sysconfig.get_paths()["stdlib"]`), without site-packages and without the test
suites (`test/`, `tests/`, `idle_test/`): about 12 MB of code written by many
people. Files are shuffled with a fixed seed; the files in the last
`val_fraction` of the bytes are held out (a random sample of whole files): the
tokenizer is trained only on the files before them, and validation is exactly
their tokens.
"""

from __future__ import annotations

import json
import pathlib
import random
import shutil
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .evaluate import compressor_bpb, evaluate, heldout_bytes, token_bytes_table
from .model import GPT, GPTConfig
from .runtime import pick_device
from .sample import generate
from .train import TrainConfig, train

TEST_DIRS = {"test", "tests", "idle_test"}


def stdlib_files() -> list[pathlib.Path]:
    """The standard library's own Python source, without site-packages and test suites."""
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    return sorted(
        p for p in root.rglob("*.py")
        if not {"site-packages", "dist-packages"} & set(p.parts) and not TEST_DIRS & set(p.relative_to(root).parts)
    )


@dataclass
class PipelineConfig:
    files: list[str] = field(default_factory=list)  # the corpus; empty: the standard library
    out_dir: str = "runs/pipeline"
    # 4096 tokens: on 2 CPU cores, with a budget of minutes, a smaller vocabulary
    # leaves more of the compute to the layers and gave the best bits per byte
    # among 2048, 4096 and 8192 (see model/README.md); on a GPU, take 50257.
    vocab_size: int = 4096
    train_seconds: float = 600.0  # wall clock for the model; the rest of the pipeline takes about a minute
    # Unix time by which the whole job should be done (scripts/main.sh: 14 minutes after it started,
    # setup included): training then gets the time left, less `reserve_seconds` for the final
    # evaluation, the compressors and the samples, but never less than `min_train_seconds`.
    deadline: float | None = None
    reserve_seconds: float = 60.0
    min_train_seconds: float = 60.0
    preset: str = "auto"  # `cpu` on a CPU, `small` (6 layers, width 384) on a GPU
    # Sequences per step: 4 on a CPU, 64 on a GPU. On the CPU, at an equal number of tokens, 4 x 128
    # beat 8 x 128 and 8 x 256 (more, smaller steps; see model/README.md), for about the same cost per token.
    batch_size: int | None = None
    threads: int = 0  # CPU threads; 0: time a few steps with 1, 2, 4, ... up to the cores and take the fastest
    lr: float = 3e-3  # tiny models take a high rate; at 4 x 128 tokens a step 3e-3 beat 5e-3 (and 1e-2 lost at 8 x 128)
    warmup_steps: int = 20
    val_fraction: float = 0.02  # ~250 KB held out: enough for gzip and xz, evaluated in under a minute
    samples: int = 3
    sample_tokens: int = 120
    seed: int = 1337
    device: str = "auto"
    compile: bool = False
    progress: bool = True
    # The time budget ends training (the cosine follows the clock); this only caps a fast machine.
    max_steps: int = 20000


def fastest_threads(mconf: GPTConfig, batch_size: int, steps: int = 3) -> int:
    """The CPU thread count (1, 2, 4, ... up to torch's default, the cores) whose training steps of a
    throwaway model like `mconf` run fastest here and now: threads wait for each other at every
    operation, so on a busy machine 2 of them can be several times slower than 1."""
    counts = sorted({1, torch.get_num_threads()} | {2**i for i in range(8) if 2**i < torch.get_num_threads()})
    if len(counts) == 1:
        return counts[0]
    model = GPT(mconf)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, mconf.vocab_size, (batch_size, mconf.block_size))
    timings = {}
    for n in counts:
        torch.set_num_threads(n)
        for i in range(steps + 1):  # the first one warms up
            if i == 1:
                t0 = time.perf_counter()
            _, loss = model(x, x)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        timings[n] = (time.perf_counter() - t0) / steps
    best = min(timings, key=timings.get)
    print("CPU threads: " + ", ".join(f"{n}: {t:.2f}s a step" for n, t in timings.items()) + f"; using {best}",
          flush=True)
    return best


def training_budget(cfg: PipelineConfig, now: float) -> float:
    """Seconds of training: `train_seconds`, or less if the deadline comes sooner.

    >>> training_budget(PipelineConfig(train_seconds=600, deadline=1000, reserve_seconds=60), now=500)
    440
    >>> training_budget(PipelineConfig(train_seconds=600, deadline=1000, min_train_seconds=60), now=990)
    60
    """
    if cfg.deadline is None:
        return cfg.train_seconds
    return min(cfg.train_seconds, max(cfg.deadline - now - cfg.reserve_seconds, cfg.min_train_seconds))


def run_pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage, print a report, and return it (also written to out_dir/report.json)."""
    import bpe

    t_start = time.perf_counter()
    stages: dict[str, float] = {}
    out = pathlib.Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def stage(name: str, t0: float) -> None:
        stages[name] = time.perf_counter() - t0
        print(f"[{time.perf_counter() - t_start:6.1f}s] {name} done in {stages[name]:.1f}s", flush=True)

    t0 = time.perf_counter()
    files = [pathlib.Path(f) for f in cfg.files] or stdlib_files()
    if not files:
        raise ValueError("no corpus files")
    files = sorted(files)
    random.Random(cfg.seed).shuffle(files)
    sizes = [f.stat().st_size for f in files]
    total = sum(sizes)
    # The tokenizer learns from the files before the held-out tail only.
    cut = int(np.searchsorted(np.cumsum(sizes), (1 - cfg.val_fraction) * total))
    tok_files = files[: max(1, cut)]
    print(f"corpus: {len(files)} files, {total / 1e6:.1f} MB", flush=True)

    tok = bpe.train([str(f) for f in tok_files], cfg.vocab_size, special_tokens=("<|endoftext|>",),
                    progress=cfg.progress)
    tok_path = out / "tokenizer.bpe"
    tok.save(str(tok_path))
    stage(f"tokenizer ({tok.n_vocab} tokens)", t0)

    t0 = time.perf_counter()
    shard_dir = out / "shards"
    shutil.rmtree(shard_dir, ignore_errors=True)  # no stale shards of an earlier run
    written = tok.write_shards([str(f) for f in files], str(shard_dir), progress=cfg.progress)
    # Validation is exactly the tokens of the files the tokenizer did not see: counted by encoding
    # them again the same way (a cut by tokens alone could reach back into its files when the
    # last files encode more compactly than the rest).
    held_out = files[len(tok_files):]
    with tempfile.TemporaryDirectory() as tmp:
        tail = sum(n for _, n in tok.write_shards([str(f) for f in held_out], tmp, progress=False)) if held_out else 0
    val_start = sum(n for _, n in written) - tail
    if tail < 2:
        raise ValueError(f"the held-out files hold {tail} tokens; give more text or a larger val_fraction")
    stage("shards", t0)

    t0 = time.perf_counter()
    cuda = pick_device(cfg.device).type == "cuda"
    preset = cfg.preset if cfg.preset != "auto" else "small" if cuda else "cpu"
    batch_size = cfg.batch_size or (64 if cuda else 4)
    if not cuda:
        threads = cfg.threads or fastest_threads(GPTConfig.preset(preset, vocab_size=tok.n_vocab), batch_size)
        torch.set_num_threads(threads)
    ckpt = out / "ckpt.pt"
    ckpt.unlink(missing_ok=True)
    train_seconds = training_budget(cfg, time.time())
    if cfg.deadline is not None:
        print(f"{cfg.deadline - time.time():.0f}s to the deadline: {train_seconds:.0f}s for training", flush=True)
    result = train(TrainConfig(
        data=str(shard_dir), out_dir=str(out), tokenizer=str(tok_path), preset=preset,
        batch_size=batch_size, max_steps=cfg.max_steps, time_budget=train_seconds, lr=cfg.lr,
        warmup_steps=cfg.warmup_steps, val_fraction=cfg.val_fraction, val_start=val_start, eval_interval=10**9,
        log_interval=50, seed=cfg.seed, device=cfg.device, compile=cfg.compile, progress=cfg.progress,
    ), tokenizer=tok)
    stage(f"model ({result['step']} steps)", t0)

    t0 = time.perf_counter()
    stream, val_start, val = result["stream"], result["val_start"], result["val"]
    table = token_bytes_table(tok)
    if val is None:  # Ctrl-C ended training early: report on the model as it is
        val = evaluate(result["model"], stream, val_start, len(stream), np.array([len(b) for b in table]))
    data = heldout_bytes(stream, val_start, len(stream), table)
    assert len(data) == val["bytes"], "the compressors must see exactly the model's held-out bytes"
    compressors = compressor_bpb(data)
    stage("compressors", t0)

    t0 = time.perf_counter()
    model = result["model"]
    prompts = [("<|endoftext|>", "def ", "class ")[i % 3] for i in range(cfg.samples)]  # seeds differ
    samples = []
    for i, text in enumerate(prompts):
        ids = tok.encode(text, allowed_special="all")
        new = generate(model, ids, cfg.sample_tokens, temperature=0.8, top_k=40, seed=cfg.seed + i,
                       stop_token=tok.eot_token, n_vocab=tok.n_vocab)
        samples.append((text if text != "<|endoftext|>" else "") + tok.decode(new[0]))
    stage("samples", t0)

    report = {
        "corpus_files": len(files), "corpus_bytes": total, "heldout_files": [str(f) for f in held_out],
        "val_start": val_start, "vocab_size": tok.n_vocab,
        "params": model.num_params(), "train_seconds": train_seconds, "steps": result["step"], "tokens_seen": result["step"] * batch_size
        * model.config.block_size, "val_loss": val["loss"], "val_tokens": val["tokens"],
        "heldout_bytes": val["bytes"], "bpb": {"model": val["bpb"], **compressors},
        "seconds": {**stages, "total": time.perf_counter() - t_start}, "samples": samples,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print_report(report)
    return report


def print_report(r: dict) -> None:
    print(f"\nheld-out text: {r['heldout_bytes']:,} bytes ({r['val_tokens']:,} tokens), "
          f"never trained on; validation loss {r['val_loss']:.4f} nats/token")
    print(f"{'bits per byte':<28}")
    names = {"model": f"GPT ({r['params'] / 1e6:.1f}M params, {r['steps']} steps)",
             "gzip -9": "gzip -9", "xz -9e": "xz -9e (preset 9 | extreme)"}
    for key, value in sorted(r["bpb"].items(), key=lambda kv: kv[1]):
        print(f"  {names[key]:<40} {value:.4f}")
    for i, text in enumerate(r["samples"]):
        print(f"\n--- sample {i + 1} ---\n{text}")
    print(f"\ntotal {r['seconds']['total']:.0f}s")
