"""Training throughput of the companion GPT-2 (model/): tokens per second and MFU.

On CUDA: GPT-2 124M (12 layers, 12 heads, width 768, context 1024, vocabulary
50257 padded to 50304), bf16 autocast, torch.compile, fused AdamW, random
tokens (the data loader is not what is measured). MFU = achieved FLOP/s over
the GPU's dense bf16 peak (bpe_gpt.runtime.PEAK_FLOPS), counting 6N + 12·L·T·C
FLOPs per token as nanoGPT and llm.c do. Each configuration is timed as the
median step time of --steps steps after --warmup untimed ones (compilation
happens there); the section "model" of benchmarks/RESULTS.md gets the table.

On a CPU there is no peak to compare with: it runs the small `cpu` preset in
fp32 for a few steps, to show the script works, and writes nothing unless --write.

    python benchmarks/model.py                         # on a GPU: GPT-2 124M, batch 16 and 32
    python benchmarks/model.py --batch-size 64 --no-compile
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from _common import command_line, machine, markdown_table, version, write_section  # noqa: E402
from bpe_gpt.model import GPT, GPTConfig  # noqa: E402
from bpe_gpt.runtime import autocast, peak_flops, pick_device  # noqa: E402
from bpe_gpt.train import TrainConfig, configure_optimizer  # noqa: E402


def measure(preset: str, batch_size: int, block_size: int | None, compile_: bool, steps: int,
            warmup: int, device: torch.device) -> dict:
    """Median seconds per optimizer step (one micro-batch) of a fresh model on random tokens."""
    torch.manual_seed(0)
    overrides = {"block_size": block_size} if block_size else {}
    model = GPT(GPTConfig.preset(preset, vocab_size=50257, **overrides)).to(device)
    optimizer = configure_optimizer(model, TrainConfig(data=""), device)
    runner = torch.compile(model) if compile_ else model
    T = model.config.block_size
    x = torch.randint(0, 50257, (batch_size, T + 1), device=device)
    inputs, targets = x[:, :-1], x[:, 1:]
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with autocast(device):
            _, loss = runner(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    tokens_per_s = batch_size * T / step
    peak = peak_flops(device)
    return {
        "params": model.num_params(), "batch": batch_size, "T": T, "step_s": step, "tokens_per_s": tokens_per_s,
        "mfu": model.flops_per_token() * tokens_per_s / peak if peak else None,
        "memory_gb": torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", help="model size (default: gpt2 on CUDA, cpu on a CPU)")
    parser.add_argument("--batch-size", type=int, nargs="+", help="sequences per step (default: 16 32 on CUDA, 4 on CPU)")
    parser.add_argument("--block-size", type=int, help="context (default: the preset's)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile (default: on CUDA only)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 10 on CUDA, 2 on CPU)")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="write the RESULTS.md section (default: on CUDA only)")
    args = parser.parse_args()

    device = pick_device(args.device)
    cuda = device.type == "cuda"
    preset = args.preset or ("gpt2" if cuda else "cpu")
    batches = args.batch_size or ([16, 32] if cuda else [4])
    compile_ = cuda if args.compile is None else args.compile
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    where = torch.cuda.get_device_name(device) if cuda else machine()
    precision = "bf16 autocast" if cuda else "fp32"
    print(f"{preset} on {where}; {precision}, compile {compile_}, torch {torch.__version__}", flush=True)

    rows = []
    for batch in batches:
        r = measure(preset, batch, args.block_size, compile_, args.steps, warmup, device)
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a (no known peak)"
        mem = f"{r['memory_gb']:.1f}" if r["memory_gb"] is not None else "-"
        row = [preset, f"{r['params'] / 1e6:.1f}M", f"{batch} x {r['T']}", f"{r['step_s'] * 1e3:.1f}",
               f"{r['tokens_per_s']:,.0f}", mfu, mem]
        print(" | ".join(row), flush=True)
        rows.append(row)
    table = markdown_table(["model", "params", "batch x context", "ms / step", "tokens / s", "MFU", "peak GB"], rows)
    print(table)
    if args.write if args.write is not None else cuda:
        write_section("model", "\n\n".join([
            "## GPT-2 training throughput (model/)",
            f"{where}; {precision}, torch.compile {compile_}, fused AdamW, torch {torch.__version__}, "
            f"bpe-gpt {version('bpe-gpt')}. Median of {args.steps} steps after {warmup} warm-up steps; "
            "MFU against the dense bf16 peak, 6N + 12·L·T·C FLOPs per token.",
            table, f"`{command_line()}`"]))


if __name__ == "__main__":
    main()
