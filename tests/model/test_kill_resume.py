"""A training run killed with SIGKILL (no handler, no last checkpoint) loses only the steps since its
last periodic checkpoint: `--resume` continues from that checkpoint's step and ends with the weights
of a run that was never interrupted."""

import os
import signal
import subprocess
import sys
import time

import torch

from bpe_gpt.train import TrainConfig, train
from model_helpers import MODEL_DIR

STEPS, EVERY = 40, 10
# One thread, as in this process (conftest), so the killed-and-resumed run and the uninterrupted one add
# their numbers in the same order.
ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(MODEL_DIR), os.environ.get("PYTHONPATH", "")])}
SETTINGS = dict(preset="tiny", batch_size=4, lr=3e-3, warmup_steps=3, max_steps=STEPS, ckpt_interval=EVERY,
                log_interval=1000, eval_interval=100_000, final_eval=False, progress=False)


def command(shards, out_dir, *extra):
    """`bpe-gpt train` with SETTINGS."""
    args = [sys.executable, "-m", "bpe_gpt", "train", str(shards), "--out-dir", str(out_dir)]
    for key, value in SETTINGS.items():
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [f"--no-{flag[2:]}"] if value is False else [flag, str(value)]
    return args + list(extra)


def run(args):
    done = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_sigkill_then_resume_equals_uninterrupted(shards, tmp_path):
    killed_dir = tmp_path / "killed"
    ckpt_path = killed_dir / "ckpt.pt"
    child = subprocess.Popen(command(shards[0], killed_dir), env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (killed_dir / "loss.png").exists():  # drawn after the first checkpoint (step 10 of 40)
            assert child.poll() is None, f"training ended before its first checkpoint:\n{child.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.005)
        time.sleep(0.05)  # into the next steps (or the next checkpoint's write)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL, "the run finished before it could be killed"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()

    at_kill = torch.load(ckpt_path, weights_only=True)  # an atomic write: never half a file
    assert at_kill["step"] % EVERY == 0 and EVERY <= at_kill["step"] < STEPS
    assert len(at_kill["history"]["loss"]) == at_kill["step"]

    out = run(command(shards[0], killed_dir, "--resume"))
    assert f"resuming at step {at_kill['step']}" in out  # only the steps since that checkpoint are redone
    resumed = torch.load(ckpt_path, weights_only=True)
    whole = train(TrainConfig(data=str(shards[0]), out_dir=str(tmp_path / "whole"), **SETTINGS))
    assert resumed["step"] == whole["step"] == STEPS
    assert resumed["history"]["loss"][: at_kill["step"]] == at_kill["history"]["loss"]
    assert resumed["history"]["loss"] == whole["history"]["loss"]  # bit for bit
    for name, tensor in whole["model"].state_dict().items():
        assert torch.equal(resumed["model"][name], tensor), name
