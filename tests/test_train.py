"""Training: the Rust trainer against the naive reference, thread counts, stopping early,
compression against HF tokenizers, and the training API's arguments."""

import inspect
import warnings

import pytest

import bpe
import reference
from corpora import stdlib_files

CORPORA = {
    "english": (
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
        "age of foolishness, it was the epoch of belief, it was the epoch of incredulity. "
    )
    * 6
    + "The quick brown fox jumps over the lazy dog's back; they'll say we've done it, I'm sure.",
    "whitespace": "a  b\n\n\n  c\t\t d \r\n\r\n    e     \n" * 20 + "    \n\n  \t",
    "code": inspect.getsource(reference) * 2,
    "chinese": "天下大势，分久必合，合久必分。周末七国分争，并入于秦。及秦灭之后，楚、汉分争，又并入于汉。" * 8,
    "emoji": "🙂🙂 hello 👋🏽 world 🇫🇷🇫🇷 family 👨‍👩‍👧‍👦 ok 🙂 " * 15,
}


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(CORPORA))
@pytest.mark.parametrize("threads", [1, 2])
def test_merges_equal_the_naive_reference(tmp_path, name, threads):
    text = CORPORA[name]
    n_merges = 150
    expected = reference.train([text], n_merges)
    from_file = bpe.train([write(tmp_path, name, text)], 256 + n_merges, special_tokens=(), threads=threads, progress=False)
    from_iter = bpe.train_from_iterator([text], 256 + n_merges, special_tokens=(), threads=threads, progress=False)
    assert from_file.merges == expected[: len(from_file.merges)]
    assert len(from_file.merges) == len(expected)
    assert from_iter.merges == expected


@pytest.mark.parametrize("pattern", ["cl100k", "o200k", r"\w+|\s+|[^\w\s]+"])
def test_other_patterns_equal_the_reference(pattern):
    text = CORPORA["english"] + CORPORA["code"][:2000]
    expected = reference.train([text], 120, pattern)
    got = bpe.train_from_iterator([text], 256 + 120, pattern, special_tokens=(), progress=False)
    assert got.merges == expected


def test_same_merges_at_any_thread_count_on_real_text():
    files = stdlib_files()[::40]
    one = bpe.train(files, 3000, threads=1, progress=False)
    two = bpe.train(files, 3000, threads=2, progress=False)
    assert one.merges == two.merges
    assert one.fingerprint == two.fingerprint


def test_iterator_and_files_agree(tmp_path):
    texts = [CORPORA[k] for k in sorted(CORPORA)]
    paths = [write(tmp_path, k, CORPORA[k]) for k in sorted(CORPORA)]
    a = bpe.train(paths, 600, progress=False)
    b = bpe.train_from_iterator(iter(texts), 600, progress=False)
    assert a.merges == b.merges


def test_vocab_size_counts_bytes_merges_and_specials():
    tok = bpe.train_from_iterator([CORPORA["english"]] * 3, 300, special_tokens=["<|endoftext|>", "<|pad|>"], progress=False)
    assert tok.n_vocab == 300
    assert tok.special_tokens == {"<|endoftext|>": 298, "<|pad|>": 299}
    assert len(tok.merges) == 42
    assert tok.eot_token == 298


def test_gpt2_sized_vocabulary_puts_endoftext_last(small_tok):
    tok = bpe.train(stdlib_files()[::2], 50257, progress=False)
    assert tok.n_vocab == 50257
    assert tok.eot_token == 50256
    assert tok.token_bytes(50256) == b"<|endoftext|>"
    assert small_tok.eot_token == 1999


def test_small_corpus_stops_early_with_a_warning():
    # "abcabc" is one piece: ab, then abc, then abcabc, and no pair is left.
    with pytest.warns(UserWarning, match=r"after 3 merges: the vocabulary reached 260 of the 5000"):
        tok = bpe.train_from_iterator(["abcabc"], 5000, progress=False)
    assert tok.n_vocab == 260  # 256 bytes + 3 merges + <|endoftext|>
    assert tok.eot_token == 259
    assert tok.stats.merges == 3


def test_stats_report_the_corpus(tmp_path):
    path = write(tmp_path, "english", CORPORA["english"])
    tok = bpe.train([path], 400, progress=False)
    s = tok.stats
    assert s.corpus_bytes == len(CORPORA["english"].encode())
    assert s.corpus_tokens == len(tok.encode(CORPORA["english"]))
    assert s.bytes_per_token == pytest.approx(s.corpus_bytes / s.corpus_tokens)


def test_invalid_utf8_is_replaced_and_counted_or_strict(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello \xff\xfe world hello world")
    with pytest.warns(UserWarning, match="invalid UTF-8"):
        tok = bpe.train([path], 270, progress=False)
    assert tok.stats.replaced_utf8 == 2  # \xff and \xfe are each one invalid sequence
    with pytest.raises(ValueError, match=r"bad.txt: invalid UTF-8 at byte offset 6"):
        bpe.train([path], 270, strict=True, progress=False)


def test_compression_matches_hf_tokenizers(tmp_path):
    """Same corpus, same size, same pattern: bytes per token on held-out text within 0.1% of HF."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers, trainers

    files = stdlib_files()
    train_files, held_out = files[1::6], files[::25]
    vocab = 8192
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in train_files]
    ours = bpe.train_from_iterator(texts, vocab, progress=False)
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer)
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in held_out)
    n_bytes = len(text.encode())
    ours_bpt = n_bytes / ours.count(text, disallowed_special=())
    hf_bpt = n_bytes / len(hf.encode(text).ids)
    print(f"bytes per token: bpe {ours_bpt:.4f}, HF {hf_bpt:.4f}")
    assert abs(ours_bpt - hf_bpt) / hf_bpt < 0.001, (ours_bpt, hf_bpt)
