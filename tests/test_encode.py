"""Encoding and decoding: hand-worked ids, round trips, special tokens, files, pickling."""

import multiprocessing
import pickle

import numpy as np
import pytest
from hypothesis import given, strategies as st

import bpe


@pytest.fixture(scope="module")
def classic():
    # "aaabdaaabac": aa (4 times) → 256; then "a b" and "aa a" tie at 2 and (97, 98) is the
    # smaller pair → 257 = "ab"; then "aa ab" occurs twice → 258 = "aaab"; <|endoftext|> = 259.
    return bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)


def test_hand_worked_example(classic):
    assert classic.merges == [(97, 97), (97, 98), (256, 257)]
    assert [classic.token_bytes(i) for i in (256, 257, 258, 259)] == [b"aa", b"ab", b"aaab", b"<|endoftext|>"]
    # a a a b d a a a b a c → (aa) a b … → (aa)(ab) … → (aaab) d (aaab) a c
    assert classic.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert classic.encode("aaaa b") == [256, 256, 32, 98]
    assert classic.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"
    assert classic.count("aaabdaaabac") == 5
    assert classic.n_vocab == 260 and classic.eot_token == 259


def test_special_tokens_follow_tiktoken(classic):
    text = "aa<|endoftext|>ab"
    with pytest.raises(ValueError, match=r"special token \"<\|endoftext\|>\".*allowed_special"):
        classic.encode(text)
    assert classic.encode(text, allowed_special="all") == [256, 259, 257]
    assert classic.encode(text, allowed_special={"<|endoftext|>"}) == [256, 259, 257]
    ordinary = classic.encode(text, disallowed_special=())
    assert 259 not in ordinary and classic.decode(ordinary) == text
    assert ordinary == classic.encode_ordinary(text)
    assert classic.count(text, allowed_special="all") == 3
    with pytest.raises(ValueError):
        classic.count(text)


def test_longest_special_wins():
    tok = bpe.train_from_iterator(["abc"], 262, special_tokens=["<|a|>", "<|a|>x"], progress=False)
    assert tok.encode("<|a|>x<|a|>", allowed_special="all") == [tok.special_tokens["<|a|>x"], tok.special_tokens["<|a|>"]]


@given(text=st.text())
def test_str_round_trip(small_tok, text):
    ids = small_tok.encode(text, disallowed_special=())
    assert small_tok.decode(ids) == text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert small_tok.count(text, disallowed_special=()) == len(ids)


@given(data=st.binary())
def test_bytes_round_trip(small_tok, data):
    assert small_tok.decode_bytes(small_tok.encode_bytes(data)) == data


def test_lone_surrogates_become_replacement_characters(small_tok):
    assert small_tok.decode(small_tok.encode("a\ud800b")) == "a\ufffdb"
    assert small_tok.encode("a\ud800b") == small_tok.encode("a\ufffdb")


def test_decode_replaces_invalid_utf8_by_default(small_tok):
    ids = small_tok.encode_bytes(b"ok\xff")
    assert small_tok.decode(ids) == "ok\ufffd"
    with pytest.raises(UnicodeDecodeError):
        small_tok.decode(ids, errors="strict")


def test_save_load_round_trip(small_tok, tmp_path):
    path = small_tok.save(tmp_path / "tok.bpe")
    again = bpe.load(path)
    assert again == small_tok
    assert again.merges == small_tok.merges
    text = (tmp_path / "tok.bpe").read_text()
    assert text.startswith("bpe-tokenizer 1\n")
    assert again.encode_ordinary(text[:5000]) == small_tok.encode_ordinary(text[:5000])
    assert bpe.encode("hello world", path) == small_tok.encode("hello world")


@given(text=st.text(max_size=200))
def test_saved_tokenizer_encodes_identically(small_tok, tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "roundtrip.bpe"
    if not path.exists():
        small_tok.save(path)
    assert bpe.load(path).encode(text, disallowed_special=()) == small_tok.encode(text, disallowed_special=())


def test_pickle_and_worker_processes(small_tok):
    again = pickle.loads(pickle.dumps(small_tok))
    assert again == small_tok
    texts = [f"def f{i}(x):\n    return x * {i}\n" for i in range(50)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(small_tok.encode, texts)
    assert got == [small_tok.encode(t) for t in texts]


def test_batch_equals_serial(small_tok):
    texts = [p.read_text(errors="replace") for p in __import__("corpora").stdlib_files()[:40]] + ["", "x"]
    serial = [small_tok.encode_ordinary(t) for t in texts]
    assert small_tok.encode_batch(texts) == serial
    assert small_tok.encode_batch(texts, threads=1) == serial
    assert small_tok.encode_ordinary_batch(texts, threads=2) == serial
    assert small_tok.encode_batch([]) == []


def test_id_lists_hold_exact_references(small_tok):
    # Lists share one int object per id; building and dropping them must leave every
    # reference count where it was (a missing or extra reference would crash or leak).
    import sys

    text = "the quick brown fox jumps over the lazy dog " * 50
    ids = small_tok.encode(text)
    big = max((i for i in ids if i > 256), key=ids.count)  # ints up to 256 are CPython's own singletons
    before = sys.getrefcount(big)
    for _ in range(200):
        assert small_tok.encode(text) == ids
    assert small_tok.encode_batch([text] * 20)[7] == ids
    long_text = text * 300  # over 256 KiB: cut, encoded as a batch, the parts' lists joined
    long_ids = small_tok.encode(long_text)
    assert long_ids == small_tok.encode_batch([long_text], threads=1)[0]  # one thread: never cut
    assert long_ids.count(big) >= 299 * ids.count(big)
    del long_ids
    assert sys.getrefcount(big) == before
    assert all(type(i) is int for i in ids)


def test_cached_ints_are_given_back_with_the_tokenizer():
    # The int objects a tokenizer keeps for its ids hold one reference each, released when the
    # tokenizer is gone (none kept for ever, none released twice).
    import gc
    import sys

    tok = bpe.train_from_iterator(["aaabdaaabac"] * 3, vocab_size=260, progress=False)
    ids = tok.encode("aaabdaaabac")
    x = next(i for i in ids if i > 256)
    del ids
    held = sys.getrefcount(x)
    tok.encode("aaab" * 10)
    assert sys.getrefcount(x) == held
    del tok
    gc.collect()
    assert sys.getrefcount(x) == held - 1


def test_batch_error_in_one_text_names_it(small_tok):
    texts = ["plain text"] * 100 + ["a <|endoftext|> b"] + ["more"] * 100
    with pytest.raises(ValueError, match="endoftext"):
        small_tok.encode_batch(texts)
    assert small_tok.special_tokens["<|endoftext|>"] in small_tok.encode_batch(texts, allowed_special="all")[100]


def test_long_text_is_split_without_changing_ids(small_tok):
    text = "".join(p.read_text(errors="replace") for p in __import__("corpora").stdlib_files()[:300])
    assert len(text) > 2_000_000
    ids = small_tok.encode_ordinary(text)  # cut at safe points and spread over the threads
    (whole,) = small_tok.encode_batch([text], threads=1, disallowed_special=())  # one thread: never cut
    assert ids == whole
    assert small_tok.decode(ids) == text
    assert small_tok.count(text, disallowed_special=()) == len(ids)


def _many_ids_per_byte(n: int) -> str:
    import random

    rng = random.Random(7)
    return "".join(rng.choice("!#$%&()*+,-./:;<=>?@[]^_{|}~ \n\u00e9\u4e2d") for _ in range(n))


def test_long_text_of_many_ids_per_byte(small_tok):
    # A text of 2 MB or more goes straight into one list made room for ahead (one id per
    # byte or so here): it must hold the ids of the one-thread encoder, each with its own
    # reference, and no more room than an eighth to spare.
    import sys

    text = _many_ids_per_byte(2_500_000)
    ids = small_tok.encode_ordinary(text)
    (whole,) = small_tok.encode_batch([text], threads=1, disallowed_special=())
    assert ids == whole
    assert len(ids) > len(text.encode()) // 3
    assert sys.getsizeof(ids) <= sys.getsizeof([]) + 8 * (len(ids) + len(ids) // 8)
    ids.append(-1)  # a list like any other
    assert ids[:-1] == whole
    x = max(set(ids[:1000]), key=ids.count)
    held = sys.getrefcount(x)
    del ids
    assert sys.getrefcount(x) == held - whole.count(x)


def _ids_in_a_child(tok, text: str, tmp_path, body: str, env=None) -> list:
    """The ids `body` leaves in `ids`, run in a new Python process that has `tok` as `tok` and
    `text` as `text` (both read from files)."""
    import subprocess
    import sys

    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    tok.save(tmp_path / "tok.bpe")
    code = (
        "import sys, numpy as np, bpe\n"
        "tok = bpe.load(sys.argv[1])\n"
        "text = open(sys.argv[2], encoding='utf-8').read()\n"
        + body
        + "np.save(sys.argv[3], np.array(ids, dtype=np.uint32))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "tok.bpe"), str(tmp_path / "text.txt"), str(tmp_path / "ids.npy")],
                   env=env, check=True)
    return np.load(tmp_path / "ids.npy").tolist()


def test_long_text_where_room_for_all_ids_is_refused(small_tok, tmp_path):
    # Where the address space for one id per byte is refused (a limit on it, here), a long text
    # is encoded as a shorter one is, a list per part, joined: the same ids.
    text = ""
    for p in __import__("corpora").stdlib_files():
        text += p.read_text(errors="replace")
        if len(text) > 8_000_000:
            break
    body = (
        "import resource\n"
        "tok.encode_ordinary(text[:3_000_000])\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "n = len(text.encode())\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + 15 * n // 2, resource.RLIM_INFINITY))\n"
        "try:\n"
        "    bytearray(8 * n)\n"
        "    sys.exit('the limit did not refuse room for one id per byte')\n"
        "except MemoryError:\n"
        "    pass\n"
        "ids = tok.encode_ordinary(text)\n"
    )
    assert _ids_in_a_child(small_tok, text, tmp_path, body) == small_tok.encode_ordinary(text)


def test_long_text_on_one_thread_gives_the_same_ids(small_tok, tmp_path):
    # With one thread (RAYON_NUM_THREADS=1), a long text takes the path that does not spread its
    # parts over threads: the same ids as on all threads.
    import os

    text = "".join(p.read_text(errors="replace") for p in __import__("corpora").stdlib_files()[:120])
    assert len(text.encode()) > 1 << 20
    body = "ids = tok.encode_ordinary(text)\nassert type(ids) is list\n"
    one_thread = _ids_in_a_child(small_tok, text, tmp_path, body, env={**os.environ, "RAYON_NUM_THREADS": "1"})
    assert one_thread == small_tok.encode_ordinary(text)
    assert small_tok.decode(one_thread) == text


def test_numpy(small_tok):
    arr = small_tok.encode_to_numpy("hello world, hello numpy")
    assert arr.dtype == np.uint16
    assert arr.tolist() == small_tok.encode("hello world, hello numpy")
    assert small_tok.decode(arr) == "hello world, hello numpy"
    big = bpe.Tokenizer.from_ranks([bytes([b]) for b in range(256)], {"<|endoftext|>": 70000})
    assert big.encode_to_numpy("hi").dtype == np.uint32


def test_pathological_inputs_round_trip(small_tok):
    for text in ["a" * 100_000, " " * 100_000, "\n" * 50_000, "!?" * 50_000, "1" * 100_000]:
        ids = small_tok.encode_ordinary(text)
        assert small_tok.decode(ids) == text


def test_large_files_stream_into_the_same_shards(small_tok, tmp_path):
    # A file over 4 MiB is encoded in blocks cut at safe points (bounded memory); the shards
    # must hold exactly what encoding each file whole gives, in order, one end-of-text after each.
    import numpy as np

    stdlib = __import__("corpora").stdlib_files()
    texts = {
        "a.txt": stdlib[0].read_text(errors="replace"),
        "big.txt": "".join(p.read_text(errors="replace") for p in stdlib[:400]) * 2,
        "one_line.txt": " ".join(p.stem for p in stdlib) * 300,  # no newline at all
        "z.txt": "tail",
    }
    paths = []
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    assert (tmp_path / "big.txt").stat().st_size > 9 << 20 and (tmp_path / "one_line.txt").stat().st_size > 5 << 20
    written = small_tok.write_shards(paths, tmp_path / "shards", shard_tokens=1_000_000, progress=False)
    got = np.concatenate([np.fromfile(p, dtype=np.uint16) for p, _ in written]).tolist()
    eot = small_tok.eot_token
    want = [i for t in texts.values() for i in small_tok.encode_ordinary(t) + [eot]]
    assert len(got) == len(want) and got == want


def test_many_small_files_keep_their_order_across_batches(small_tok, tmp_path):
    # Small files are encoded in batches (of at most 64 a thread) while the batch before is
    # written; the ids must still come in the files' order, a large file's blocks among them.
    import numpy as np

    stdlib = __import__("corpora").stdlib_files()
    paths = list(stdlib[:300])
    big = tmp_path / "big.txt"
    big.write_text("".join(p.read_text(errors="replace") for p in stdlib[300:700]) * 2, encoding="utf-8")
    assert big.stat().st_size > 4 << 20
    paths[150:150] = [big]
    written = small_tok.write_shards(paths, tmp_path / "shards", shard_tokens=300_000, threads=2, progress=False)
    assert len(written) > 3
    got = np.concatenate([np.fromfile(p, dtype=np.uint16) for p, _ in written]).tolist()
    eot = small_tok.eot_token
    texts = [p.read_bytes().decode("utf-8", errors="replace") for p in paths]
    want = [i for t in texts for i in small_tok.encode_ordinary(t) + [eot]]
    assert len(got) == len(want) and got == want
