"""examples/distributed_count.py on a real local Ray cluster of 2 workers: counting in partitions on
the cluster, then training from the sum, gives exactly the merges of `bpe.train` on the same files."""

import importlib.util
import sys
from pathlib import Path

import pytest
import ray

import bpe
from corpora import stdlib_files

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed_count.py"
_spec = importlib.util.spec_from_file_location("distributed_count", EXAMPLE)
example = sys.modules["distributed_count"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)


@pytest.fixture(autouse=True)
def _no_cluster_left():
    """Each test starts from no cluster and leaves none, whatever happens inside it."""
    assert not ray.is_initialized()
    yield
    if ray.is_initialized():
        ray.shutdown()
        pytest.fail("the example left a Ray cluster running")


def test_counting_on_ray_trains_the_merges_of_bpe_train(tmp_path, capsys):
    files = stdlib_files()[::25]
    out = tmp_path / "d.bpe"
    assert example.main([*map(str, files), "--vocab", "2000", "--partitions", "5", "--workers", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ray: 5 partitions on 2 workers" in printed and "vocabulary 2000" in printed
    assert not ray.is_initialized()

    direct = bpe.train(files, 2000, progress=False)
    distributed = bpe.load(out)
    assert len(distributed.merges) == len(direct.merges) > 1000
    assert distributed.merges == direct.merges
    assert distributed == direct


def test_the_cluster_shuts_down_when_a_task_fails(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("fine so far")
    with pytest.raises(FileNotFoundError, match="bad.txt"):
        with example.ray_cluster(2, "gpt2") as run:
            bad.unlink()  # partitioned, then gone before its task reads it
            run([[str(bad)]])
    assert not ray.is_initialized()


def test_partitions_balance_bytes_and_keep_every_file_once(tmp_path):
    files = []
    for i, size in enumerate([900, 500, 400, 300, 200, 100, 50]):
        files.append(tmp_path / f"f{i}.txt")
        files[-1].write_bytes(b"x" * size)
    parts = example.partition(files, 3)
    assert sorted(f for p in parts for f in p) == sorted(map(str, files))
    assert [sum(Path(f).stat().st_size for f in p) for p in parts] == [900, 800, 750]
    assert all(p == sorted(p, key=lambda f: files.index(Path(f))) for p in parts)  # files' own order
    assert example.partition(files[:2], 8) == [[str(files[0])], [str(files[1])]]  # never an empty task
    with pytest.raises(ValueError, match="at least 1"):
        example.partition(files, 0)
    with pytest.raises(FileNotFoundError):  # before any cluster starts
        example.count_distributed([tmp_path / "missing.txt"], workers=2)
    with pytest.raises(ValueError, match="engine must be one of"):
        example.count_distributed(files, engine="dask")
