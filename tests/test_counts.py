"""Counting scales out: counts made in parts add up to the counts of the whole, and training from
them gives exactly the merges of training on the concatenated corpus."""

import pickle
import subprocess
import sys

import pytest

import bpe
from corpora import stdlib_files


@pytest.fixture(scope="module")
def parts():
    files = stdlib_files()[::25]
    return files, [files[0::3], files[1::3], files[2::3]]


def test_counts_of_parts_add_up_to_the_whole(parts):
    files, groups = parts
    whole = bpe.count_files(files)
    summed = sum(bpe.count_files(g) for g in groups)
    assert summed == whole
    assert summed.n_bytes == sum(p.stat().st_size for p in files)
    assert len(whole) > 1000
    # order and grouping do not matter
    a, b, c = (bpe.count_files(g) for g in groups)
    assert (a + b) + c == c + (b + a)


def test_training_from_counts_equals_training_from_files(parts, tmp_path):
    files, groups = parts
    direct = bpe.train(files, 3000, progress=False)
    paths = [bpe.count_files(g).save(tmp_path / f"part{i}.counts") for i, g in enumerate(groups)]
    from_counts = bpe.train_from_counts(paths, 3000, progress=False)
    assert from_counts.merges == direct.merges
    assert from_counts == direct
    assert from_counts.stats.corpus_bytes == direct.stats.corpus_bytes


def test_counts_pickle_and_keep_their_pattern():
    counts = bpe.count_words(["it's 1234 DON'T"], pattern="cl100k")
    again = pickle.loads(pickle.dumps(counts))
    assert again == counts and again.pattern == counts.pattern
    assert bpe.train_from_counts(again, 270, progress=False).pattern == bpe.Tokenizer.from_ranks(
        [bytes([b]) for b in range(256)], pattern="cl100k"
    ).pattern
    with pytest.raises(ValueError, match="different patterns"):
        counts + bpe.count_words(["x"], pattern="gpt2")


def test_cli_count_then_train_from_counts(parts, tmp_path):
    files, groups = parts
    cli = [sys.executable, "-m", "bpe.cli"]
    for i, g in enumerate(groups):
        r = subprocess.run([*cli, "count", *map(str, g), "-o", str(tmp_path / f"p{i}.counts"), "-q"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*cli, "train", "--from-counts", *(str(tmp_path / f"p{i}.counts") for i in range(3)), "--vocab", "2000", "-o", str(tmp_path / "t.bpe"), "-q"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert bpe.load(tmp_path / "t.bpe").merges == bpe.train(files, 2000, progress=False).merges


def test_damaged_counts_files_are_named(tmp_path):
    path = bpe.count_words(["hello world hello"]).save(tmp_path / "a.counts")
    data = path.read_bytes()
    (tmp_path / "cut.counts").write_bytes(data[:-5])
    with pytest.raises(ValueError, match=r"cut.counts: truncated"):
        bpe.load_counts(tmp_path / "cut.counts")
    (tmp_path / "junk.counts").write_bytes(b"nonsense\n")
    with pytest.raises(ValueError, match=r"junk.counts: not a .counts file"):
        bpe.load_counts(tmp_path / "junk.counts")
    with pytest.raises(FileNotFoundError, match="missing.counts"):
        bpe.load_counts(tmp_path / "missing.counts")


def test_replaced_utf8_survives_pickling_and_adding(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok \xff ok \xfe")
    with pytest.warns(UserWarning, match="2 invalid UTF-8"):
        counts = bpe.count_files([path])
    assert counts._core.replaced == 2
    assert pickle.loads(pickle.dumps(counts))._core.replaced == 2
    assert (counts + counts)._core.replaced == 4
    assert bpe.load_counts(counts.save(tmp_path / "c.counts"))._core.replaced == 2
    assert bpe.train_from_counts(counts + counts, 260, progress=False).stats.replaced_utf8 == 4
