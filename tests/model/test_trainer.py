import math
import os
import pathlib
import random
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from bpe_gpt.train import (TrainConfig, clean_state_dict, configure_optimizer, learning_rate, load_model,
                           rng_state, set_rng_state, train)
from model_helpers import MODEL_DIR

QUIET = dict(preset="tiny", progress=False, log_interval=1000, eval_interval=1000, final_eval=False,
             warmup_steps=3, lr=3e-3, batch_size=4)


def test_learns_and_checkpoint_loads_with_weights_only(shards, tmp_path):
    result = train(TrainConfig(data=str(shards[0]), out_dir=str(tmp_path / "run"), max_steps=40,
                               **{**QUIET, "final_eval": True}))
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0] - 1.0
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == 40 and set(ckpt["rng"]) >= {"python", "numpy", "torch"}
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in ckpt["model"])
    model, _ = load_model(tmp_path / "run" / "ckpt.pt")
    for name, tensor in result["model"].state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert result["val"]["tokens"] == 30_000 - 28_500 - 1 and result["val"]["bpb"] is None


def test_resume_equals_uninterrupted(shards, tmp_path):
    common = dict(data=str(shards[0]), decay_steps=12, **QUIET)
    whole = train(TrainConfig(out_dir=str(tmp_path / "whole"), max_steps=12, **common))
    train(TrainConfig(out_dir=str(tmp_path / "split"), max_steps=5, **common))
    random.random(), np.random.rand(), torch.rand(3)  # disturb the generators: the checkpoint restores them
    resumed = train(TrainConfig(out_dir=str(tmp_path / "split"), max_steps=12, resume=True, **common))
    assert resumed["history"]["loss"] == whole["history"]["loss"]  # bit for bit
    assert resumed["history"]["lr"] == whole["history"]["lr"]
    for (name, a), b in zip(whole["model"].state_dict().items(), resumed["model"].state_dict().values()):
        assert torch.equal(a, b), name


def test_sigint_saves_a_checkpoint_and_returns(shards, tmp_path):
    timer = threading.Timer(3.0, os.kill, (os.getpid(), __import__("signal").SIGINT))
    timer.start()
    try:
        result = train(TrainConfig(data=str(shards[0]), out_dir=str(tmp_path), max_steps=10**6, **QUIET))
    finally:
        timer.cancel()
    assert result["interrupted"] and 0 < result["step"] < 10**6
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == result["step"]


def test_rng_state_round_trip():
    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_schedule_warmup_then_cosine():
    cfg = TrainConfig(data="", lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0, 0) == pytest.approx(0.1)
    assert learning_rate(cfg, 9, 0) == pytest.approx(1.0)
    assert learning_rate(cfg, 60, 0) == pytest.approx(0.55)
    assert learning_rate(cfg, 110, 0) == pytest.approx(0.1)
    timed = TrainConfig(data="", lr=1.0, warmup_steps=10, max_steps=10**6, time_budget=100.0, min_lr_ratio=0.0)
    assert learning_rate(timed, 500, 50.0) == pytest.approx(0.5)  # time is further along than steps
    assert learning_rate(timed, 10 + 10**6 // 2, 0.0) == pytest.approx(0.5, abs=1e-5)  # steps are


def test_weight_decay_only_on_matrices():
    from bpe_gpt.model import GPT, GPTConfig

    model = GPT(GPTConfig.preset("tiny", vocab_size=64))
    decay, no_decay = configure_optimizer(model, TrainConfig(data=""), torch.device("cpu")).param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert decay["betas"] == (0.9, 0.95)


def test_uncompiled_names():
    state = {"_orig_mod.wte.weight": 1, "module._orig_mod.h.0.ln_1.weight": 2, "module.ln_f.bias": 3}
    assert clean_state_dict(state) == {"wte.weight": 1, "h.0.ln_1.weight": 2, "ln_f.bias": 3}


def test_accumulation_must_divide_the_batch(shards, tmp_path):
    with pytest.raises(ValueError, match="not a multiple"):
        train(TrainConfig(data=str(shards[0]), out_dir=str(tmp_path), total_batch_tokens=1000, **QUIET))


def test_ddp_two_processes_equal_one(shards, tmp_path):
    """2 gloo ranks x batch 2 give the losses of 1 process x batch 2 x 2 accumulation steps."""
    common = dict(data=str(shards[0]), max_steps=6, total_batch_tokens=4 * 32, batch_size=2,
                  **{k: v for k, v in QUIET.items() if k != "batch_size"})
    alone = train(TrainConfig(out_dir=str(tmp_path / "one"), **common))
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "bpe_gpt", "train", common.pop("data"), "--out-dir", str(tmp_path / "two")]
    for key, value in common.items():
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [f"--no-{flag[2:]}"] if value is False else [flag, str(value)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(MODEL_DIR), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(tmp_path / "two" / "ckpt.pt", weights_only=True)
    np.testing.assert_allclose(two["history"]["loss"], alone["history"]["loss"], rtol=1e-5)
    for name, tensor in alone["model"].state_dict().items():
        torch.testing.assert_close(two["model"][name], tensor, rtol=1e-4, atol=1e-6)
