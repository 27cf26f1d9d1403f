"""`bpe-gpt train | sample | eval | pipeline` (see each subcommand's --help)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np


def _add_fields(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """One --option per field of a config dataclass, typed by its default."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            text = str(f.type)  # the annotation as written, e.g. "int | None"
            kind = float if text.startswith("float") else int if text.startswith("int") else str
            parser.add_argument(flag, type=kind, default=default, metavar=f.name.upper())


def main(argv: list[str] | None = None) -> int:
    from .pipeline import PipelineConfig
    from .train import TrainConfig

    parser = argparse.ArgumentParser(prog="bpe-gpt", description="A compact GPT-2 on bpe token shards.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train on a directory of shards (under torchrun for DDP)")
    p.add_argument("data", help="directory of shard_*.bin written by `bpe encode`")
    _add_fields(p, TrainConfig, skip=("data",))

    p = sub.add_parser("sample", help="continue a prompt with a trained model")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--tokenizer", help="tokenizer file (default: the one the checkpoint was trained with)")
    p.add_argument("--prompt", default="<|endoftext|>")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("eval", help="validation loss and bits per byte, next to gzip -9 and xz -9e")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", help="shard directory (default: the one the checkpoint was trained on)")
    p.add_argument("--tokenizer", help="tokenizer file (default: the one the checkpoint was trained with)")
    p.add_argument("--val-fraction", type=float, help="default: the training run's")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("pipeline", help="corpus -> tokenizer -> shards -> GPT -> bits per byte -> samples")
    p.add_argument("files", nargs="*", help="corpus files (default: the Python standard library's source)")
    _add_fields(p, PipelineConfig, skip=("files",))

    args = vars(parser.parse_args(argv))
    command = args.pop("command")
    try:
        return _run(command, args)
    except KeyboardInterrupt:
        print("bpe-gpt: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        # Bad input (a missing file, a setting out of range, shards of another tokenizer) in one line.
        msg = str(e) if not isinstance(e, OSError) or e.filename is None else f"{e.filename}: {e.strerror}"
        print(f"bpe-gpt: error: {msg}", file=sys.stderr)
        return 1


def _run(command: str, args: dict) -> int:
    from .pipeline import PipelineConfig
    from .train import TrainConfig

    if command == "train":
        from .train import train

        result = train(TrainConfig(**args))
        return 130 if result["interrupted"] else 0
    if command == "pipeline":
        from .pipeline import run_pipeline

        run_pipeline(PipelineConfig(**args))
        return 0
    if command == "sample":
        return _sample(**args)
    return _eval(**args)


def _load(checkpoint: str, tokenizer: str | None, device: str):
    import bpe

    from .runtime import pick_device
    from .train import load_model

    model, ckpt = load_model(checkpoint, pick_device(device))
    path = tokenizer or ckpt["tokenizer"]["path"]
    if not path:
        raise ValueError(f"{checkpoint}: the checkpoint names no tokenizer; give --tokenizer")
    if not tokenizer and not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the tokenizer the checkpoint names is not there; give --tokenizer")
    tok = bpe.load(path)
    if tok.fingerprint != ckpt["tokenizer"]["fingerprint"]:
        raise ValueError(f"{path} is not the tokenizer this model was trained with "
                         f"(fingerprint {tok.fingerprint[:12]}..., expected {ckpt['tokenizer']['fingerprint'][:12]}...)")
    return model, ckpt, tok


def _sample(checkpoint, tokenizer, prompt, num_samples, max_new_tokens, temperature, top_k, top_p, seed,
            device) -> int:
    from .sample import generate

    model, _, tok = _load(checkpoint, tokenizer, device)
    ids = tok.encode(prompt, allowed_special="all")
    rows = generate(model, ids, max_new_tokens, num_samples, temperature, top_k, top_p, seed, tok.eot_token,
                    tok.n_vocab)
    shown = prompt.replace("<|endoftext|>", "")
    for i, row in enumerate(rows):
        print(f"--- sample {i + 1} ---\n{shown}{tok.decode(row)}")
    return 0


def _eval(checkpoint, data, tokenizer, val_fraction, batch_size, device) -> int:
    from .data import TokenStream
    from .evaluate import compressor_bpb, evaluate, heldout_bytes, token_bytes_table

    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, not {batch_size}")
    model, ckpt, tok = _load(checkpoint, tokenizer, device)
    stream = TokenStream(data or ckpt["train_config"]["data"], fingerprint=tok.fingerprint)
    # The run's own validation split, unless asked for another.
    start = ckpt["train_config"].get("val_start") if val_fraction is None and not data else None
    if start is None:
        start = stream.split(val_fraction or ckpt["train_config"]["val_fraction"])
    table = token_bytes_table(tok)
    val = evaluate(model, stream, start, len(stream), np.array([len(b) for b in table]), batch_size)
    result = {"val_loss": val["loss"], "tokens": val["tokens"], "bytes": val["bytes"],
              "bpb": {"model": val["bpb"], **compressor_bpb(heldout_bytes(stream, start, len(stream), table))}}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
