"""Train a GPT on `bpe` shards: one process, or many under `torchrun` (DDP).

    bpe-gpt train runs/pipeline/shards --tokenizer runs/pipeline/tokenizer.bpe --max-steps 2000
    torchrun --nproc_per_node 8 -m bpe_gpt train SHARDS --preset gpt2 --total-batch-tokens 524288 --compile

AdamW (decay on matrices only), linear warmup then cosine decay, gradient
clipping, gradient accumulation up to `total_batch_tokens`, bf16 autocast on
CUDA. Checkpoints hold plain tensors and Python scalars only, so they load with
`torch.load(weights_only=True)`; `resume=True` continues a run so that it is
identical, bit for bit on a CPU, to one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pathlib
import random
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .data import TokenStream, WindowSampler
from .evaluate import evaluate, token_bytes_table
from .model import GPT, GPTConfig
from .runtime import Dist, all_reduce_sum, autocast, init_distributed, peak_flops

CHECKPOINT = "ckpt.pt"


@dataclass
class TrainConfig:
    data: str  # directory of shards written by `bpe encode` / `tok.write_shards`
    out_dir: str = "runs/train"  # checkpoint, loss curve
    tokenizer: str | None = None  # tokenizer file: checks the shards' fingerprint, gives bits per byte
    # Model: a preset of GPTConfig, and any of its fields to override.
    preset: str | None = None  # default "cpu"; on resume, the checkpoint's
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None
    dropout: float | None = None
    # Batch: micro-batches of `batch_size` sequences per rank, accumulated up to
    # `total_batch_tokens` per optimizer step (None: one micro-batch per rank).
    batch_size: int = 16
    total_batch_tokens: int | None = None
    # Length: `max_steps` optimizer steps, or fewer if `time_budget` seconds of wall
    # clock run out first (the cosine then follows whichever is further along).
    max_steps: int = 1000
    time_budget: float | None = None
    decay_steps: int | None = None  # horizon of the cosine (default max_steps); set it to extend a run later
    # Optimizer, as GPT-3's paper: AdamW with betas (0.9, 0.95), decay 0.1, clip 1.0.
    lr: float = 1e-3  # small models tolerate a higher rate than GPT-2 small's 6e-4
    min_lr_ratio: float = 0.1  # the cosine ends at 10% of the peak
    warmup_steps: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # Evaluation and bookkeeping.
    val_fraction: float = 0.05  # the last 5% of the tokens are held out
    val_start: int | None = None  # or: validation starts at this token (the pipeline's held-out files)
    eval_interval: int = 200
    eval_tokens: int = 32768  # a quick estimate during training
    final_eval: bool = True  # evaluate on the whole validation split at the end
    log_interval: int = 20
    ckpt_interval: int = 500
    seed: int = 1337
    device: str = "auto"
    compile: bool = False  # torch.compile (worth it on CUDA for long runs)
    resume: bool = False
    progress: bool = True

    def check(self) -> None:
        """A ValueError naming the first setting out of range."""
        at_least_1 = ("batch_size", "max_steps", "eval_interval", "eval_tokens", "log_interval", "ckpt_interval")
        for name in at_least_1:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("n_layer", "n_head", "n_embd", "block_size", "total_batch_tokens", "decay_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must not be negative, not {self.warmup_steps}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget must be a positive number of seconds, not {self.time_budget}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, not {self.lr}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), not {self.val_fraction}")

    def model_config(self, n_vocab: int) -> GPTConfig:
        names = ("n_layer", "n_head", "n_embd", "block_size", "dropout")
        overrides = {k: getattr(self, k) for k in names if getattr(self, k) is not None}
        return GPTConfig.preset(self.preset or "cpu", vocab_size=n_vocab, **overrides)


def configure_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (>= 2 dims: linear weights, embeddings) only;
    biases and LayerNorm gains stay undecayed."""
    params = [p for p in model.parameters() if p.requires_grad]  # tied weights appear once
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")


def learning_rate(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """Linear warmup over `warmup_steps`, then a cosine from lr down to lr * min_lr_ratio over
    the remaining steps, or, with a time budget, over the elapsed fraction of it if that is larger."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    horizon = cfg.decay_steps or cfg.max_steps
    progress = (step - cfg.warmup_steps) / max(1, horizon - cfg.warmup_steps)
    if cfg.time_budget is not None:  # whichever runs out first: steps or time
        progress = max(progress, elapsed / cfg.time_budget)
    progress = min(max(progress, 0.0), 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def clean_state_dict(state: dict) -> dict:
    """Parameter names as the plain GPT has them: without the `_orig_mod.` that
    torch.compile adds and the `module.` that DDP adds."""
    out = {}
    for name, tensor in state.items():
        for prefix in ("module.", "_orig_mod."):
            name = name.replace(prefix, "")
        out[name] = tensor
    return out


def rng_state() -> dict:
    """Every random generator's state, as tensors and ints (weights_only-loadable)."""
    version, mt, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["mt"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: pathlib.Path, state: dict) -> None:
    """Write to a temporary file, then rename over the old one: a crash never leaves half a checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | pathlib.Path, device: str | torch.device = "cpu") -> dict:
    """A checkpoint written by `train`; a missing file is a FileNotFoundError and anything else
    that is not one (truncated, another format) a ValueError naming the file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, OSError... for a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable bpe-gpt checkpoint ({first})") from None
    if not isinstance(ckpt, dict) or not {"model", "model_config", "tokenizer"} <= set(ckpt):
        raise ValueError(f"{path}: not a bpe-gpt checkpoint (it lacks the model, its config or its tokenizer)")
    return ckpt


def load_model(path: str | pathlib.Path, device: str | torch.device = "cpu") -> tuple[GPT, dict]:
    """The GPT of a checkpoint, in eval mode, and the checkpoint itself."""
    ckpt = load_checkpoint(path, device)
    model = GPT(GPTConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def plot_losses(history: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["step"], history["loss"], lw=0.8, label="train")
    if history["val_step"]:
        ax.plot(history["val_step"], history["val_loss"], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


class _StopFlag:
    """Set by SIGINT/SIGTERM so the loop can save a checkpoint and return."""

    def __init__(self) -> None:
        self.set = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.set = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _check_resume(cfg: TrainConfig, ckpt: dict, stream: TokenStream, path: pathlib.Path) -> None:
    """Refuse to continue a run on shards of another tokenizer, or with a model setting that the
    checkpoint's model cannot take (it keeps its own)."""
    was = ckpt["tokenizer"]["fingerprint"]
    if was != stream.fingerprint:
        raise ValueError(f"{path}: the run was trained on shards of tokenizer {was[:12]}..., but {cfg.data} "
                         f"holds shards of tokenizer {stream.fingerprint[:12]}...; resume on the run's own data")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "dropout"):
        given, kept = getattr(cfg, name), ckpt["model_config"].get(name)
        if given is not None and given != kept:
            raise ValueError(f"{path}: the checkpoint's model has {name}={kept}; --{name.replace('_', '-')} "
                             f"{given} cannot change it when resuming")
    preset = ckpt.get("train_config", {}).get("preset") or "cpu"
    if cfg.preset is not None and cfg.preset != preset:
        raise ValueError(f"{path}: the run was trained with preset {preset!r}; --preset {cfg.preset} cannot "
                         "change it when resuming (leave it out)")


def train(cfg: TrainConfig, tokenizer=None) -> dict:
    """Train as `cfg` says; returns the history, the final validation result and the checkpoint path.

    Args:
        cfg: the run.
        tokenizer: a `bpe.Tokenizer` (else `cfg.tokenizer` is loaded, if given): the shards must carry
            its fingerprint, and validation reports bits per byte from its token bytes.
    """
    ctx, device = init_distributed(cfg.device)
    finished = False
    try:
        result = _train(cfg, tokenizer, ctx, device)
        finished = True
        return result
    finally:
        if ctx.owns_group:
            if finished:
                # Every rank is past its last collective before any tears its group down: a rank
                # whose gloo threads were still at work when the other left was seen to abort
                # ("terminate called without an active exception"). Not after a failure, where
                # the other ranks may never get here.
                dist.barrier()
            dist.destroy_process_group()


def _train(cfg: TrainConfig, tok, ctx: Dist, device: torch.device) -> dict:
    cfg.check()
    if tok is None and cfg.tokenizer:
        import bpe

        tok = bpe.load(cfg.tokenizer)
    stream = TokenStream(cfg.data, fingerprint=tok.fingerprint if tok is not None else None)
    byte_lengths = np.array([len(b) for b in token_bytes_table(tok)]) if tok is not None else None
    out_dir = pathlib.Path(cfg.out_dir)
    ckpt_path = out_dir / CHECKPOINT
    if cfg.resume and not ckpt_path.exists():
        raise FileNotFoundError(f"{ckpt_path}: no checkpoint to resume (is --out-dir the run's folder?)")
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)

    ckpt = load_checkpoint(ckpt_path) if cfg.resume else None
    if ckpt:
        _check_resume(cfg, ckpt, stream, ckpt_path)
    mconf = GPTConfig(**ckpt["model_config"]) if ckpt else cfg.model_config(stream.n_vocab)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = GPT(mconf).to(device)
    optimizer = configure_optimizer(model, cfg, device)
    if cfg.val_start is None:
        val_start = stream.split(cfg.val_fraction)
    elif mconf.block_size + 1 <= cfg.val_start <= len(stream) - 2:
        val_start = cfg.val_start
    else:
        raise ValueError(f"val_start {cfg.val_start} leaves no training window or no validation "
                         f"in a stream of {len(stream)} tokens")
    sampler = WindowSampler(stream, 0, val_start, mconf.block_size, cfg.seed, ctx.rank, ctx.world_size)
    tokens_per_micro = cfg.batch_size * mconf.block_size * ctx.world_size
    total = cfg.total_batch_tokens or tokens_per_micro
    if total % tokens_per_micro:
        raise ValueError(f"total_batch_tokens {total} is not a multiple of batch_size * block_size * "
                         f"world_size = {tokens_per_micro}")
    accum = total // tokens_per_micro

    step, elapsed = 0, 0.0
    history = {"step": [], "loss": [], "lr": [], "val_step": [], "val_loss": []}
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        sampler.load_state_dict(ckpt["data"])
        step, elapsed, history = ckpt["step"], ckpt["elapsed"], ckpt["history"]
        set_rng_state(ckpt["rng"])

    runner = torch.compile(model) if cfg.compile else model
    if ctx.world_size > 1:
        runner = DDP(runner, device_ids=[device.index] if device.type == "cuda" else None)
    flops_per_step = model.flops_per_token() * total
    peak = peak_flops(device)

    def checkpoint() -> None:
        if not ctx.is_main:
            return
        save_checkpoint(ckpt_path, {
            "model": clean_state_dict(model.state_dict()),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "history": history,
            "data": sampler.state_dict(),
            "rng": rng_state(),
            "model_config": mconf.to_dict(),
            # Paths made absolute, so that sample and eval find them from any folder.
            "train_config": {**dataclasses.asdict(cfg), "data": os.path.abspath(cfg.data), "val_start": val_start,
                             "out_dir": os.path.abspath(cfg.out_dir)},
            "tokenizer": {"fingerprint": stream.fingerprint,
                          "path": os.path.abspath(cfg.tokenizer) if cfg.tokenizer else None,
                          "n_vocab": stream.n_vocab, "eot_token": stream.eot_token},
        })
        plot_losses(history, out_dir / "loss.png")

    def say(line: str) -> None:
        if ctx.is_main:
            bar.write(line) if bar is not None else print(line, flush=True)

    bar = None
    if ctx.is_main and cfg.progress:
        from tqdm.auto import tqdm

        bar = (tqdm(total=round(cfg.time_budget), initial=round(elapsed), unit="s", desc="train")
               if cfg.time_budget else tqdm(total=cfg.max_steps, initial=step, unit="step", desc="train"))
    say(f"model {model.num_params() / 1e6:.2f}M parameters, {mconf.n_layer} layers, width {mconf.n_embd}, "
        f"context {mconf.block_size}, vocab {mconf.vocab_size}; {total} tokens per step "
        f"({ctx.world_size} x {accum} x {cfg.batch_size} x {mconf.block_size}); device {device}")
    if ckpt:
        say(f"resuming at step {step} from {ckpt_path}")

    runner.train()
    t_log, tokens_since, interrupted = time.perf_counter(), 0, False
    with _StopFlag() as stop:
        while step < cfg.max_steps:
            t0 = time.perf_counter()
            lr = learning_rate(cfg, step, elapsed)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = 0.0
            for micro in range(accum):
                x, y = sampler.next_batch(cfg.batch_size, device)
                sync = micro == accum - 1 or ctx.world_size == 1
                with (contextlib.nullcontext() if sync else runner.no_sync()), autocast(device):
                    _, loss = runner(x, y)
                (loss / accum).backward()
                loss_sum += loss.detach()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step_loss, interrupted = all_reduce_sum([float(loss_sum) / accum, float(stop.set)], ctx, device)
            history["step"].append(step)
            history["loss"].append(step_loss / ctx.world_size)
            history["lr"].append(lr)
            step += 1
            tokens_since += total
            dt = time.perf_counter() - t0
            elapsed += dt
            if ctx.world_size > 1 and cfg.time_budget:  # every rank stops at the same step
                elapsed = all_reduce_sum([elapsed], ctx, device)[0] / ctx.world_size
            if bar is not None:
                bar.update(round(elapsed) - bar.n if cfg.time_budget else 1)
                bar.set_postfix(step=step, loss=f"{history['loss'][-1]:.3f}", refresh=False)
            done = step >= cfg.max_steps or (cfg.time_budget is not None and elapsed >= cfg.time_budget)
            if step % cfg.log_interval == 0 or done:
                rate = tokens_since / (time.perf_counter() - t_log)
                mfu = f"{flops_per_step / total * rate / (peak * ctx.world_size):.1%}" if peak else "n/a"
                say(f"step {step:5d} | loss {history['loss'][-1]:.4f} | lr {lr:.2e} | "
                    f"{rate:,.0f} tok/s | MFU {mfu}")
                t_log, tokens_since = time.perf_counter(), 0
            if step % cfg.eval_interval == 0 and not done:
                t0 = time.perf_counter()
                val = evaluate(runner, stream, val_start, len(stream), byte_lengths,
                               cfg.batch_size, cfg.eval_tokens, device, ctx)
                history["val_step"].append(step)
                history["val_loss"].append(val["loss"])
                say(f"step {step:5d} | val loss {val['loss']:.4f}"
                    + (f" | {val['bpb']:.4f} bits/byte" if val["bpb"] else "") + f" (first {val['tokens']} tokens)")
                elapsed += time.perf_counter() - t0
                t_log = time.perf_counter()
            if interrupted:
                say(f"interrupted at step {step}: saving a checkpoint; continue with --resume")
                break
            if done:
                break
            if step % cfg.ckpt_interval == 0:
                t0 = time.perf_counter()
                checkpoint()
                # Saving counts against the time budget, not against the next log line's tok/s.
                elapsed += time.perf_counter() - t0
                t_log = time.perf_counter()
    if bar is not None:
        bar.close()
    checkpoint()
    result = {"step": step, "history": history, "checkpoint": str(ckpt_path), "interrupted": bool(interrupted),
              "elapsed": elapsed, "model": model, "stream": stream, "val_start": val_start, "val": None}
    if not interrupted and cfg.final_eval:
        val = evaluate(runner, stream, val_start, len(stream), byte_lengths, cfg.batch_size, None, device, ctx)
        say(f"validation: loss {val['loss']:.4f} over {val['tokens']:,} tokens"
            + (f", {val['bpb']:.4f} bits per byte over {val['bytes']:,} bytes" if val["bpb"] else ""))
        result["val"] = val
    return result
