"""Bad input to bpe-gpt: a one-line error naming the problem, never a traceback or a silent
change; and the fixes of a review (resume checks, paths, time budget, the global generator)."""

import importlib
import os
import time

import pytest
import torch

from bpe_gpt.cli import main
from bpe_gpt.data import TokenStream, ShardError, write_shard
from bpe_gpt.model import GPT, GPTConfig
from bpe_gpt.sample import generate
from bpe_gpt.train import TrainConfig, train
from model_helpers import EOT, FINGERPRINT, N_VOCAB, pattern_tokens

QUIET = dict(preset="tiny", progress=False, log_interval=1000, eval_interval=1000, final_eval=False,
             warmup_steps=3, lr=3e-3, batch_size=4)


@pytest.fixture
def run(shards, tmp_path):
    """A finished 6-step run on the shards: its folder."""
    out = tmp_path / "run"
    train(TrainConfig(data=str(shards[0]), out_dir=str(out), max_steps=6, **QUIET))
    return out


def one_line_error(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpe-gpt: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_cli_errors_are_one_line(shards, run, tmp_path, capsys):
    data, ckpt = str(shards[0]), str(run / "ckpt.pt")
    one_line_error(capsys, main(["train", str(tmp_path / "nope")]), "nope", "no shard_*.bin")
    for flag, value in [("--log-interval", "0"), ("--batch-size", "0"), ("--max-steps", "0"), ("--val-fraction", "2"),
                        ("--lr", "-1"), ("--time-budget", "0")]:
        one_line_error(capsys, main(["train", data, "--out-dir", str(tmp_path / "x"), flag, value, "--no-progress"]),
                       flag[2:].replace("-", "_"))
    one_line_error(capsys, main(["train", data, "--preset", "bogus", "--out-dir", str(tmp_path / "x"), "--no-progress"]),
                   "bogus")
    one_line_error(capsys, main(["sample", "--checkpoint", str(tmp_path / "none.pt")]), "none.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((run / "ckpt.pt").read_bytes()[:5000])
    one_line_error(capsys, main(["sample", "--checkpoint", str(truncated)]), "truncated.pt", "not a readable")
    text = tmp_path / "text.pt"
    text.write_text("hello")
    one_line_error(capsys, main(["eval", "--checkpoint", str(text)]), "text.pt")


def test_sampling_arguments_out_of_range_are_refused(capsys):
    model = GPT(GPTConfig.preset("tiny", vocab_size=N_VOCAB))
    for kw, name in [(dict(num_samples=0), "num_samples"), (dict(temperature=-1.0), "temperature"),
                     (dict(temperature=float("nan")), "temperature"), (dict(top_p=0.0), "top_p"),
                     (dict(max_new_tokens=-1), "max_new_tokens")]:
        with pytest.raises(ValueError, match=name):
            generate(model, [1, 2], **{"max_new_tokens": 3, **kw})


def test_sampling_without_a_seed_leaves_the_global_generator_alone():
    model = GPT(GPTConfig.preset("tiny", vocab_size=N_VOCAB))
    torch.manual_seed(123)
    generate(model, [1, 2, 3], 3)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))


def test_resume_is_refused_without_a_checkpoint_with_other_shards_or_another_model(shards, run, tmp_path):
    data = str(shards[0])
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume"):
        train(TrainConfig(data=data, out_dir=str(tmp_path / "typo"), max_steps=8, resume=True, **QUIET))
    other = tmp_path / "other"
    tokens = pattern_tokens(30_000)
    write_shard(other, 0, tokens, N_VOCAB, EOT, "e" * 64)
    with pytest.raises(ValueError, match="shards of tokenizer"):
        train(TrainConfig(data=str(other), out_dir=str(run), max_steps=8, resume=True, **QUIET))
    with pytest.raises(ValueError, match="n_layer"):
        train(TrainConfig(data=data, out_dir=str(run), max_steps=8, resume=True, **{**QUIET, "n_layer": 5}))
    with pytest.raises(ValueError, match="preset 'tiny'"):
        train(TrainConfig(data=data, out_dir=str(run), max_steps=8, resume=True, **{**QUIET, "preset": "cpu"}))
    resumed = train(TrainConfig(data=data, out_dir=str(run), max_steps=8, resume=True, **{**QUIET, "preset": None}))
    assert resumed["step"] == 8


def test_checkpoints_name_their_data_by_absolute_path(shards, tmp_path, monkeypatch):
    monkeypatch.chdir(shards[0].parent)
    train(TrainConfig(data="shards", out_dir="rel_run", max_steps=3, **QUIET))
    ckpt = torch.load(shards[0].parent / "rel_run" / "ckpt.pt", weights_only=True)
    assert ckpt["train_config"]["data"] == str(shards[0])
    assert os.path.isabs(ckpt["train_config"]["out_dir"])


def test_checkpoint_saves_count_against_the_time_budget(shards, tmp_path, monkeypatch):
    train_module = importlib.import_module("bpe_gpt.train")  # (the package exports the function `train`)
    save = train_module.save_checkpoint

    def slow_save(path, state):
        time.sleep(0.3)
        save(path, state)

    monkeypatch.setattr(train_module, "save_checkpoint", slow_save)
    result = train(TrainConfig(data=str(shards[0]), out_dir=str(tmp_path / "t"), max_steps=10_000, time_budget=1.0,
                               ckpt_interval=1, **QUIET))
    assert result["step"] <= 5 and result["elapsed"] >= 1.0


def test_a_missing_shard_or_a_malformed_sidecar_is_named(tmp_path):
    tokens = pattern_tokens(3_000)
    for i in range(3):
        write_shard(tmp_path / "s", i, tokens[i * 1000:(i + 1) * 1000], N_VOCAB, EOT, FINGERPRINT)
    assert len(TokenStream(tmp_path / "s")) == 3_000
    (tmp_path / "s" / "shard_000001.bin").unlink()
    with pytest.raises(ShardError, match="shard_000001.bin is missing"):
        TokenStream(tmp_path / "s")
    write_shard(tmp_path / "t", 0, tokens, N_VOCAB, EOT, FINGERPRINT)
    sidecar = tmp_path / "t" / "shard_000000.json"
    for text, needle in [("[1, 2]", "not an object"), (sidecar.read_text().replace('"count"', '"c"'), "count None")]:
        sidecar.write_text(text)
        with pytest.raises(ShardError, match=needle):
            TokenStream(tmp_path / "t")
