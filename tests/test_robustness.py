"""Promises about bad input: each gets a clear Python exception (never a panic, crash or hang),
and on the command line a one-line message and a non-zero exit."""

import shutil
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


@pytest.mark.parametrize("bad", [2000, 10**6, -1, 2**70, -(2**70)])
def test_an_id_out_of_range_is_named(small_tok, bad):
    with pytest.raises(ValueError, match=f"token id {bad} is out of range"):
        small_tok.decode([5, bad])
    with pytest.raises(ValueError, match=f"token id {bad} is out of range"):
        small_tok.token_bytes(bad)


def test_counts_of_threads_shard_tokens_and_special_ids_out_of_range_are_named(small_tok, tmp_path, corpus):
    for threads in (0, -1, 2**70):
        with pytest.raises(ValueError, match=f"threads must be between 1 and .*, not {threads}"):
            small_tok.encode_batch(["a"], threads=threads)
        with pytest.raises(ValueError, match="threads must be"):
            small_tok.write_shards([corpus], tmp_path / "s", threads=threads, progress=False)
        with pytest.raises(ValueError, match="threads must be"):
            bpe.train([corpus], 300, threads=threads, progress=False)
        with pytest.raises(ValueError, match="threads must be"):
            bpe.count_words(["a b"], threads=threads)
    with pytest.raises(TypeError, match="threads must be an int"):
        small_tok.encode_batch(["a"], threads="2")
    for shard_tokens in (0, -1, 2**70):
        with pytest.raises(ValueError, match=f"shard_tokens must be at least 1, not {shard_tokens}"):
            small_tok.write_shards([corpus], tmp_path / "s", shard_tokens=shard_tokens, progress=False)
    tokens = [bytes([b]) for b in range(256)]
    for id in (-1, 2**32, 2**70):
        with pytest.raises(ValueError, match=rf"special token '<\|e\|>': id {id} is out of range"):
            bpe.Tokenizer.from_ranks(tokens, {"<|e|>": id})


def test_special_tokens_is_a_copy(small_tok):
    small_tok.special_tokens.clear()
    assert small_tok.special_tokens == {"<|endoftext|>": 1999}
    with pytest.raises(ValueError, match="endoftext"):
        small_tok.encode("a <|endoftext|>")


def test_cli_decode_names_a_bad_id(small_tok, tmp_path):
    path = small_tok.save(tmp_path / "t.bpe")
    one_line_error(run_cli("decode", "-t", path, stdin="1 2 99999\n"), "99999")
    one_line_error(run_cli("decode", "-t", path, stdin="1 two\n"), "'two'")
    one_line_error(run_cli("decode", "-t", path, stdin="1 2 99999999999999999999999\n"), "token id 99999999999999999999999")


def test_cli_refuses_bad_counts_and_conflicting_options(small_tok, corpus, tmp_path):
    path = small_tok.save(tmp_path / "t.bpe")
    for args in (["encode", "-t", path, corpus, "--threads", "-1"],
                 ["encode", "-t", path, corpus, "-o", tmp_path / "s", "--shard-tokens", "0"],
                 ["count", corpus, "-o", tmp_path / "c.counts", "--threads", "0"],
                 ["train", corpus, "--vocab", 300, "--threads", "x"]):
        result = run_cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "error: argument" in result.stderr and ("at least 1" in result.stderr or "whole number" in result.stderr)
    one_line_error(run_cli("train", corpus, "--vocab", 300, "--no-special", "--special", "<|x|>", "-o", tmp_path / "a.bpe"),
                   "--special or --no-special")
    assert run_cli("count", corpus, "-o", tmp_path / "c.counts", "-q").returncode == 0
    one_line_error(run_cli("train", "--from-counts", tmp_path / "c.counts", "--vocab", 300, "--pattern", "o200k",
                           "-o", tmp_path / "b.bpe"), "--pattern does not apply to --from-counts")
    assert not (tmp_path / "a.bpe").exists() and not (tmp_path / "b.bpe").exists()


def test_cli_info_on_a_vocabulary_with_unused_ids(tmp_path):
    # Ordinary ids 0..255, then specials at 300 and 310: ids 256..299 and 301..309 belong to no token.
    tok = bpe.Tokenizer.from_ranks([bytes([b]) for b in range(256)], {"<|a|>": 300, "<|b|>": 310})
    path = tok.save(tmp_path / "gaps.bpe")
    result = run_cli("info", path)
    assert result.returncode == 0, result.stderr
    assert "n_vocab:      311" in result.stdout and "ordinary:     256 (ids 0..255)" in result.stdout


def test_cli_encode_strict_names_the_offset_of_invalid_utf8(small_tok, tmp_path):
    """`--strict` stops at invalid UTF-8 whether ids go to stdout or into shards; without it the
    bad byte is replaced by U+FFFD."""
    path = small_tok.save(tmp_path / "t.bpe")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\xffdef\n")
    one_line_error(run_cli("encode", "-t", path, "--strict", bad), "bad.txt", "byte offset 3")
    one_line_error(run_cli("encode", "-t", path, "--strict", "-q", bad, "-o", tmp_path / "shards"), "bad.txt", "byte offset 3")
    result = subprocess.run([sys.executable, "-m", "bpe.cli", "encode", "-t", str(path), "--strict", "-"],
                            input=b"ok\xc3", capture_output=True, timeout=120)
    assert result.returncode != 0 and b"<stdin>: invalid UTF-8 at byte offset 2" in result.stderr
    replaced = run_cli("encode", "-t", path, bad)
    assert replaced.returncode == 0, replaced.stderr
    assert [int(x) for x in replaced.stdout.split()] == small_tok.encode("abc\ufffddef\n")


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


def test_faults_of_special_tokens_and_merges_name_their_line(small_tok, tmp_path):
    lines = small_tok.save(tmp_path / "good.bpe").read_text().splitlines(keepends=True)
    at = next(i for i, l in enumerate(lines) if l.startswith("special "))
    assert lines[at] == 'special 1999 "<|endoftext|>"\n'

    def load_with(name, edit):
        edited = list(lines)
        edit(edited)
        path = tmp_path / name
        path.write_text("".join(edited))
        return lambda: bpe.load(path)

    cases = [
        ("low_id.bpe", lambda ls: ls.__setitem__(at, 'special 500 "<|endoftext|>"\n'), at + 1,
         r'the special token "<\|endoftext\|>" has id 500, which an ordinary token already uses'),
        ("empty.bpe", lambda ls: ls.insert(at + 1, 'special 2000 ""\n'), at + 2, "cannot be the empty string"),
        ("same_id.bpe", lambda ls: ls.insert(at + 1, 'special 1999 "<|pad|>"\n'), at + 2,
         r'"<\|endoftext\|>" \(line \d+\) and "<\|pad\|>" share the id 1999'),
        ("twice.bpe", lambda ls: ls.insert(at + 1, 'special 2000 "<|endoftext|>"\n'), at + 2, "is given twice"),
        # The last merge made again as the first one was: token 1998 spells token 256's bytes.
        ("same_bytes.bpe",
         lambda ls: ls.__setitem__(len(ls) - 1, ls[next(i for i, l in enumerate(ls) if l.startswith("merges ")) + 1]),
         len(lines), "this merge makes token 1998, whose bytes .* token 256 has already"),
    ]
    for name, edit, line, message in cases:
        with pytest.raises(ValueError, match=rf"{name}, line {line}: .*{message}"):
            load_with(name, edit)()


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


def test_a_failed_shard_run_leaves_the_earlier_shards_as_they_were(small_tok, tmp_path):
    docs = []
    for i in range(24):
        docs.append(tmp_path / f"doc{i:02}.txt")
        docs[-1].write_text(f"document {i}: " + "some words of text " * 60)
    out = tmp_path / "shards"
    first = small_tok.write_shards(docs, out, shard_tokens=500, progress=False)
    assert len(first) > 3
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff")
    # Many shards of the new run are full before the last file fails; none may replace the old.
    with pytest.raises(ValueError, match="bad.txt: invalid UTF-8 at byte offset 3"):
        small_tok.write_shards(docs[::-1] + [bad], out, shard_tokens=300, strict=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # A file that looks binary is skipped with a warning, as in training, small or large.
    small_bin, large_bin = tmp_path / "small.bin", tmp_path / "large.bin"
    small_bin.write_bytes(b"text\x00" * 100)
    large_bin.write_bytes(b"\x00" + b"more text\n" * 500_000)  # over the 4 MiB of one block
    with pytest.warns(UserWarning) as seen:
        written = small_tok.write_shards([docs[0], small_bin, large_bin, docs[1]], tmp_path / "skip", progress=False)
    for name in ("small.bin", "large.bin"):
        assert any(f"{name}: skipped: it looks binary" in str(w.message) for w in seen), name
    import numpy as np
    ids = np.concatenate([np.fromfile(p, dtype="<u2") for p, _ in written]).tolist()
    eot = [small_tok.eot_token]
    assert ids == small_tok.encode_ordinary(docs[0].read_text()) + eot + small_tok.encode_ordinary(docs[1].read_text()) + eot
    # A missing input is found before anything is made.
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        small_tok.write_shards(docs + [tmp_path / "missing.txt"], tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()


# --- interruptions ---------------------------------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from corpora import stdlib_files  # noqa: E402


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory):
    """About 64 MB of real text: the standard library's source, twice."""
    path = tmp_path_factory.mktemp("big") / "big.txt"
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in stdlib_files())
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.write(text)
    return path


def interrupt_when(proc, marker: bytes, deadline: float = 120.0) -> float:
    """Read the child's stderr until `marker` shows, send SIGINT, and return how long the child
    took to exit after it."""
    seen = b""
    start = time.monotonic()
    while marker not in seen:
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, f"the child ended before {marker!r}: {seen[-500:]!r}"
        seen += chunk
        assert time.monotonic() - start < deadline
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    return time.monotonic() - sent


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("phase", [b"count", b"merge"])
def test_ctrl_c_stops_training_within_a_second_and_writes_nothing(big_corpus, tmp_path, phase):
    out = tmp_path / "t.bpe"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bpe.cli", "train", str(big_corpus), "--vocab", "200000", "-o", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    took = interrupt_when(proc, phase)
    assert proc.returncode == 130
    assert took < 1.0, f"took {took:.2f} s to stop"
    assert not out.exists() and leftovers(tmp_path) == []


def test_ctrl_c_stops_encoding_a_long_text(big_corpus, small_tok, tmp_path):
    path = small_tok.save(tmp_path / "t.bpe")
    script = (
        "import sys, bpe; tok = bpe.load(sys.argv[1]); text = open(sys.argv[2]).read(); "
        "tok.count(text[:1000]); sys.stderr.write('start\\n'); sys.stderr.flush(); tok.encode_ordinary(text)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(big_corpus)], stderr=subprocess.PIPE)
    took = interrupt_when(proc, b"start")
    assert proc.returncode != 0
    assert took < 1.0, f"took {took:.2f} s to stop"


def test_ctrl_c_while_writing_shards_leaves_only_whole_shards(big_corpus, small_tok, tmp_path):
    import json

    tok = small_tok.save(tmp_path / "t.bpe")
    shards = tmp_path / "shards"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bpe.cli", "encode", "-t", str(tok), str(big_corpus), str(big_corpus), "-o", str(shards), "--shard-tokens", "1000000"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    took = interrupt_when(proc, b"encode")
    assert proc.returncode == 130 and took < 1.0
    assert leftovers(shards) == []
    for meta in shards.glob("*.json"):
        info = json.loads(meta.read_text())
        assert meta.with_suffix(".bin").stat().st_size == info["count"] * 2


def test_a_full_disk_leaves_the_previous_file_intact(small_tok, tmp_path):
    path = small_tok.save(tmp_path / "t.bpe")
    before = path.read_bytes()
    bigger = bpe.train(stdlib_files()[::20], 4000, progress=False)
    script = (
        "import resource, signal, sys, bpe\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "tok = bpe.load(sys.argv[2])\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "for fmt in ('bpe', 'huggingface', 'tiktoken'):\n"
        "    try:\n"
        "        tok.save(sys.argv[1], format=fmt)\n"
        "    except OSError as e:\n"
        "        print('refused', fmt, e.errno)\n"
    )
    src = bigger.save(tmp_path / "bigger.bpe")
    r = subprocess.run([sys.executable, "-c", script, str(path), str(src)], capture_output=True, text=True, timeout=120)
    assert r.stdout.count("refused") == 3, r.stdout + r.stderr
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


# --- concurrency -----------------------------------------------------------------------------


def test_one_tokenizer_from_many_threads_gives_serial_ids(small_tok):
    texts = [p.read_text(errors="replace") for p in stdlib_files()[:64]]
    expected = [small_tok.encode_ordinary(t) for t in texts]
    results = [None] * len(texts)

    def work(k):
        for i in range(k, len(texts), 8):
            results[i] = small_tok.encode_ordinary(texts[i])
        small_tok.encode_batch(texts[k::8])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == expected


def test_the_gil_is_released_while_encoding(small_tok, big_corpus):
    text = big_corpus.read_text()
    # A str that is not ASCII is turned into UTF-8 by CPython, with the GIL, the first time it
    # is passed in (the copy is kept in the str): here about 0.1 s before encoding starts, which
    # this call takes out of the timed one.
    small_tok.count(text, disallowed_special=())
    ticks = 0
    done = threading.Event()

    def tick():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    started = time.monotonic()
    small_tok.encode_ordinary(text)
    elapsed = time.monotonic() - started
    done.set()
    t.join()
    assert elapsed > 0.2 and ticks > 20, (elapsed, ticks)


# --- huge and hostile input ------------------------------------------------------------------


def test_binary_files_are_skipped_with_a_warning(tmp_path, corpus):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 100)
    with pytest.warns(UserWarning, match="blob.bin: skipped: it looks binary"):
        tok = bpe.train([corpus, blob], 270, progress=False)
    assert tok.stats.corpus_bytes == corpus.stat().st_size


@pytest.mark.parametrize("make", [lambda: "a" * 10_000_000, lambda: os.urandom(10_000_000).decode("latin-1")])
def test_ten_megabytes_of_one_char_or_random_bytes_train_and_encode(make):
    text = make()
    started = time.monotonic()
    tok = bpe.train_from_iterator([text], 400, progress=False)
    ids = tok.encode_ordinary(text)
    assert tok.decode(ids) == text
    assert time.monotonic() - started < 120


def test_a_1gb_file_without_newlines_trains_and_encodes_in_bounded_memory(tmp_path):
    """1 GB on one line: counting and shard writing read it in blocks cut between words, so the
    peak stays a small fraction of the file's size (it would be several GB if either read the
    file whole)."""
    path = tmp_path / "oneline.txt"
    words = (" ".join(p.stem for p in stdlib_files()) + " ") * 50
    with open(path, "w") as f:
        while f.tell() < 1_000_000_000:
            f.write(words)
    script = (
        "import resource, sys, bpe\n"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "before = peak()\n"
        "tok = bpe.train([sys.argv[1]], 2000, progress=False)\n"
        "trained = peak()\n"
        "written = tok.write_shards([sys.argv[1]], sys.argv[2], progress=False)\n"
        "print(before, trained, peak(), sum(n for _, n in written))\n"
    )
    try:
        r = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "shards")],
                           capture_output=True, text=True, timeout=900)
        size = path.stat().st_size
    finally:
        # 1.5 GB of file and shards: gone at once, not left for pytest's kept temporary folders.
        path.unlink()
        shutil.rmtree(tmp_path / "shards", ignore_errors=True)
    assert r.returncode == 0, r.stderr
    before, trained, encoded, n_tokens = map(int, r.stdout.split()[-4:])
    assert n_tokens > size // 20  # the whole file was encoded
    for stage, peak in (("training", trained), ("encoding", encoded)):
        grew = peak - before
        assert grew < 400e6, f"peak RSS grew by {grew / 1e6:.0f} MB in {stage} for a {size / 1e6:.0f} MB file"


def test_a_catastrophic_user_regex_fails_cleanly_instead_of_hanging():
    ranks = [bytes([b]) for b in range(256)]
    # Without lookaround the regex runs on a DFA: linear, so no hang at all.
    assert len(bpe.Tokenizer.from_ranks(ranks, pattern=r"(a+)+b|.").encode("a" * 5000 + "c")) == 5001
    # With lookaround it backtracks; the engine's step limit turns the blow-up into an error.
    tok = bpe.Tokenizer.from_ranks(ranks, pattern=r"(a+)+(?=b)|.")
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"regex .* failed: .*backtracking"):
        tok.encode("a" * 5000 + "c")
    assert time.monotonic() - started < 10
