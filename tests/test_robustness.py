"""Promises about bad input: each gets a clear Python exception (never a panic, crash or hang),
and on the command line a one-line message and a non-zero exit."""

import subprocess
import sys

import pytest

import bpe


def run_cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "bpe.cli", *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120
    )


def one_line_error(result, *needles):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpe: error: "), result.stderr
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("hello world, hello tokens\n" * 50)
    return path


# --- training --------------------------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        bpe.train([tmp_path / "nope.txt"], 300, progress=False)
    one_line_error(run_cli("train", tmp_path / "nope.txt", "--vocab", 300, "-o", tmp_path / "t.bpe"), "nope.txt")


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        bpe.train([tmp_path], 300, progress=False)
    one_line_error(run_cli("train", tmp_path, "--vocab", 300, "-o", tmp_path / "t.bpe"), "is a directory")


def test_an_empty_corpus_is_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="corpus is empty"):
        bpe.train([empty], 300, progress=False)
    with pytest.raises(ValueError, match="corpus is empty"):
        bpe.train_from_iterator([], 300, progress=False)
    one_line_error(run_cli("train", empty, "--vocab", 300, "-o", tmp_path / "t.bpe"), "empty")


@pytest.mark.parametrize("size", [0, 255, 256])
def test_a_vocabulary_under_256_plus_specials_is_refused(corpus, size):
    with pytest.raises(ValueError, match="too small.*at least 257"):
        bpe.train([corpus], size, progress=False)


def test_an_absurd_vocabulary_is_refused(corpus):
    with pytest.raises(ValueError, match="too large"):
        bpe.train([corpus], 10**12, progress=False)
    with pytest.raises(ValueError, match="negative"):
        bpe.train([corpus], -5, progress=False)
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        bpe.train([corpus], 300.5, progress=False)


@pytest.mark.parametrize(
    "specials, message",
    [([""], "empty string"), (["<a>", "<a>"], "given twice")],
)
def test_bad_special_tokens_are_refused(corpus, specials, message):
    with pytest.raises(ValueError, match=message):
        bpe.train([corpus], 300, special_tokens=specials, progress=False)


@pytest.mark.parametrize("pattern, message", [(r"(unclosed", "invalid regex"), (r"\w*", "matches the empty string"), ("", "empty")])
def test_a_bad_pattern_is_refused(corpus, tmp_path, pattern, message):
    with pytest.raises(ValueError, match=message):
        bpe.train([corpus], 300, pattern=pattern, progress=False)
    one_line_error(run_cli("train", corpus, "--vocab", 300, "--pattern", pattern or "", "-o", tmp_path / "t.bpe"))


def test_wrong_types_from_python(corpus, small_tok):
    with pytest.raises(TypeError, match="not a str"):
        bpe.train_from_iterator(["ok", b"bytes"], 300, progress=False)
    with pytest.raises(TypeError, match="single string"):
        bpe.train_from_iterator("a string", 300, progress=False)
    with pytest.raises(TypeError, match="encode_bytes"):
        small_tok.encode(b"bytes")
    with pytest.raises(TypeError, match="not NoneType"):
        small_tok.encode(None)
    with pytest.raises(TypeError, match="item 1 is 2.5"):
        small_tok.decode([1, 2.5])
    with pytest.raises(TypeError, match="item 0 is None"):
        small_tok.decode([None])
    with pytest.raises(TypeError, match="item 1 is a int"):
        small_tok.encode_batch(["a", 3])


# --- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [2000, 10**6, -1, 2**70])
def test_an_id_out_of_range_is_named(small_tok, bad):
    with pytest.raises((ValueError, OverflowError), match=str(bad) if bad < 2**63 else "int"):
        small_tok.decode([5, bad])
    if bad < 2**63:
        with pytest.raises(ValueError, match=f"token id {bad} is out of range"):
            small_tok.token_bytes(bad)


def test_cli_decode_names_a_bad_id(small_tok, tmp_path):
    path = small_tok.save(tmp_path / "t.bpe")
    one_line_error(run_cli("decode", "-t", path, stdin="1 2 99999\n"), "99999")
    one_line_error(run_cli("decode", "-t", path, stdin="1 two\n"), "'two'")


# --- tokenizer files -------------------------------------------------------------------------


def test_a_corrupt_tokenizer_file_names_the_line(small_tok, tmp_path):
    good = small_tok.save(tmp_path / "good.bpe").read_text()
    lines = good.splitlines(keepends=True)

    truncated = tmp_path / "truncated.bpe"
    truncated.write_text("".join(lines[: len(lines) // 2]))
    with pytest.raises(ValueError, match=r"truncated.bpe.*promises 1743 merges.*truncated"):
        bpe.load(truncated)

    bad_id = tmp_path / "bad_id.bpe"
    index = next(i for i, l in enumerate(lines) if l.startswith("merges ")) + 3
    lines2 = list(lines)
    lines2[index] = "70000 1\n"
    bad_id.write_text("".join(lines2))
    with pytest.raises(ValueError, match=rf"bad_id.bpe, line {index + 1}: merge 70000 1 names a token that does not exist"):
        bpe.load(bad_id)

    garbage = tmp_path / "garbage.bpe"
    garbage.write_bytes(b"\x00\x01binary")
    with pytest.raises(ValueError, match="garbage.bpe: not a tokenizer file"):
        bpe.load(garbage)
    one_line_error(run_cli("info", garbage), "garbage.bpe")

    bad_pattern = tmp_path / "bad_pattern.bpe"
    bad_pattern.write_text(good.replace(f"pattern {__import__('json').dumps(small_tok.pattern)}", 'pattern "(oops"'))
    with pytest.raises(ValueError, match="bad_pattern.bpe.*invalid regex"):
        bpe.load(bad_pattern)

    with pytest.raises(FileNotFoundError, match="missing.bpe"):
        bpe.load(tmp_path / "missing.bpe")
    with pytest.raises(IsADirectoryError):
        bpe.load(tmp_path)


def test_saving_is_atomic(small_tok, tmp_path):
    path = tmp_path / "t.bpe"
    small_tok.save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="unknown format"):
        small_tok.save(path, format="nonsense")
    assert path.read_bytes() == before
    with pytest.raises(OSError):
        small_tok.save(tmp_path / "no" / "such" / "dir" / "t.bpe")
    assert [p.name for p in tmp_path.iterdir()] == ["t.bpe"]  # no temporary file left behind


# --- the command line ------------------------------------------------------------------------


def test_help_answers_for_every_command():
    for args in [["--help"], ["train", "--help"], ["encode", "--help"], ["decode", "--help"], ["info", "--help"]]:
        result = run_cli(*args)
        assert result.returncode == 0 and "usage: bpe" in result.stdout


def test_cli_train_encode_decode_info(corpus, tmp_path):
    out = tmp_path / "t.bpe"
    result = run_cli("train", corpus, "--vocab", 270, "-o", out, "-q")
    assert result.returncode == 0, result.stderr
    assert "vocabulary 270 (13 merges)" in result.stderr and "bytes/token" in result.stderr
    tok = bpe.load(out)
    enc = run_cli("encode", "-t", out, corpus)
    ids = [int(x) for x in enc.stdout.split()]
    assert ids == tok.encode(corpus.read_text())
    dec = run_cli("decode", "-t", out, stdin=enc.stdout)
    assert dec.stdout == corpus.read_text()
    info = run_cli("info", out)
    assert "n_vocab:      270" in info.stdout and tok.fingerprint in info.stdout


def test_cli_encode_writes_shards(corpus, tmp_path):
    import json

    import numpy as np

    out = tmp_path / "t.bpe"
    run_cli("train", corpus, "--vocab", 270, "-o", out, "-q")
    tok = bpe.load(out)
    result = run_cli("encode", "-t", out, corpus, corpus, "-o", tmp_path / "shards", "--shard-tokens", 100, "-q")
    assert result.returncode == 0, result.stderr
    bins = sorted((tmp_path / "shards").glob("shard_*.bin"))
    meta = [json.loads(p.with_suffix(".json").read_text()) for p in bins]
    assert all(m["dtype"] == "uint16" and m["tokenizer_fingerprint"] == tok.fingerprint for m in meta)
    ids = np.concatenate([np.fromfile(p, dtype="<u2") for p in bins]).tolist()
    doc = tok.encode_ordinary(corpus.read_text()) + [tok.eot_token]
    assert ids == doc + doc
    assert [m["count"] for m in meta] == [100] * (len(ids) // 100) + ([len(ids) % 100] if len(ids) % 100 else [])
