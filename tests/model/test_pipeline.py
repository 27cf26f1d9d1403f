"""End to end with the real tokenizer: corpus -> bpe.train -> write_shards -> GPT -> report -> samples."""

import json
import time

import pytest
import torch

from bpe_gpt.cli import main
from bpe_gpt.model import GPTConfig
from bpe_gpt.pipeline import PipelineConfig, fastest_threads, run_pipeline, stdlib_files, training_budget

bpe = pytest.importorskip("bpe", reason="the pipeline needs the real `bpe` tokenizer (pip install the repo root)")


def small_corpus(limit: int = 300_000) -> list[str]:
    files, total = [], 0
    for f in stdlib_files():
        size = f.stat().st_size
        if 2_000 < size < 40_000:
            files.append(str(f))
            total += size
        if total > limit:
            return files
    return files


def test_stdlib_corpus_has_no_tests_or_site_packages():
    files = stdlib_files()
    assert len(files) > 300
    assert not any("site-packages" in f.parts or "test" in f.parts for f in files)


def test_pipeline_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    report = run_pipeline(PipelineConfig(
        files=small_corpus(), out_dir=str(out), vocab_size=512, preset="tiny", batch_size=8, samples=4,
        sample_tokens=20, progress=False, deadline=time.time() - 1, min_train_seconds=8,  # past: the minimum
    ))
    for name in ("tokenizer.bpe", "ckpt.pt", "loss.png", "report.json", "shards/shard_000000.bin"):
        assert (out / name).exists(), name
    assert json.loads((out / "report.json").read_text())["bpb"] == report["bpb"]
    bpb = report["bpb"]
    assert set(bpb) == {"model", "gzip -9", "xz -9e"} and all(0 < v < 9 for v in bpb.values())
    assert report["vocab_size"] == 512 and report["steps"] > 0 and len(report["samples"]) == 4
    # Validation is exactly the tokens of the held-out files, which the tokenizer never saw.
    tok = bpe.load(out / "tokenizer.bpe")
    held = report["heldout_files"]
    assert held and set(held) < set(small_corpus())
    held_tokens = sum(len(tok.encode_ordinary(open(f, encoding="utf-8", newline="").read())) + 1 for f in held)
    total_tokens = sum(json.loads(p.read_text())["count"] for p in (out / "shards").glob("*.json"))
    assert report["val_start"] == total_tokens - held_tokens
    assert report["train_seconds"] == 8
    assert "bits per byte" in capsys.readouterr().out

    # the checkpoint serves the sample and eval commands, finding its tokenizer by itself
    ckpt = str(out / "ckpt.pt")
    assert main(["sample", "--checkpoint", ckpt, "--prompt", "import ", "--max-new-tokens", "10",
                 "--seed", "1", "--num-samples", "2"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("--- sample") == 2 and "import " in shown
    assert main(["eval", "--checkpoint", ckpt]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["bpb"]["model"] == pytest.approx(bpb["model"], rel=1e-6)
    assert evaluated["bpb"]["gzip -9"] == bpb["gzip -9"]

    # shards of another tokenizer are refused
    other = bpe.train(small_corpus(50_000), 300, progress=False)
    other.save(str(tmp_path / "other.bpe"))
    assert main(["eval", "--checkpoint", ckpt, "--tokenizer", str(tmp_path / "other.bpe")]) == 1
    assert "not the tokenizer this model was trained with" in capsys.readouterr().err
    torch.load(ckpt, weights_only=True)


def test_training_budget_is_what_the_deadline_leaves():
    cfg = PipelineConfig(train_seconds=600, reserve_seconds=60, min_train_seconds=30)
    assert training_budget(cfg, now=0) == 600  # no deadline
    cfg.deadline = 1000
    assert training_budget(cfg, now=0) == 600  # far off: train_seconds
    assert training_budget(cfg, now=500) == 440  # the time left less the reserve
    assert training_budget(cfg, now=990) == 30  # too late: the minimum still trains a model


def test_fastest_threads_picks_one_of_the_counts():
    torch.set_num_threads(2)
    assert fastest_threads(GPTConfig.preset("tiny", vocab_size=100), batch_size=2) in (1, 2)
    torch.set_num_threads(1)
    assert fastest_threads(GPTConfig.preset("tiny", vocab_size=100), batch_size=2) == 1  # nothing to choose
