"""End to end with the real tokenizer: corpus -> bpe.train -> write_shards -> GPT -> report -> samples."""

import json

import pytest
import torch

from bpe_gpt.cli import main
from bpe_gpt.pipeline import PipelineConfig, run_pipeline, stdlib_files

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
        files=small_corpus(), out_dir=str(out), vocab_size=512, train_seconds=8, preset="tiny",
        batch_size=8, samples=2, sample_tokens=20, progress=False,
    ))
    for name in ("tokenizer.bpe", "ckpt.pt", "loss.png", "report.json", "shards/shard_000000.bin"):
        assert (out / name).exists(), name
    assert json.loads((out / "report.json").read_text())["bpb"] == report["bpb"]
    bpb = report["bpb"]
    assert set(bpb) == {"model", "gzip -9", "xz -9e"} and all(0 < v < 9 for v in bpb.values())
    assert report["vocab_size"] == 512 and report["steps"] > 0 and len(report["samples"]) == 2
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
    with pytest.raises(SystemExit, match="not the tokenizer this model was trained with"):
        main(["eval", "--checkpoint", ckpt, "--tokenizer", str(tmp_path / "other.bpe")])
    torch.load(ckpt, weights_only=True)
