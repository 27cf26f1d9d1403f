"""Checks in python/bpe/formats.py: the permissions and error messages of exports, the
tokenizer.json settings that HF applies and this tokenizer does not (which must be refused, not
ignored), and which tiktoken rank files get a named encoding's special tokens.

Small vocabularies built here; only the GPT-2 tokenizer.json test uses the cached real files, the
way tests/test_compat.py does."""

import copy
import json
import os
import sys
from pathlib import Path

import pytest

import bpe
from bpe import formats
from jsonpath import setter

TEXT = "hello world, the cat sat on the mat<|endoftext|>  Hello THERE 12345 éé xabc abcd!"


@pytest.fixture(scope="module")
def tok():
    corpus = ["hello world, the cat sat on the mat. hello there! " * 3, "numbers 12345 and 678, éé ü"]
    return bpe.train_from_iterator(corpus, vocab_size=300, progress=False)


def hf_file(tmp_path, data, name="tokenizer.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def hf_ids(path, text):
    """HF's own ids for ``text`` from the file, by default settings (as a user calls it)."""
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_file(str(path)).encode(text).ids


# --- permissions and errors of exports ------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077], ids=oct)
def test_exports_get_the_mode_of_a_new_file(tmp_path, tok, umask):
    """tempfile.mkstemp made every export 0600 whatever the umask; .bpe (written by Rust) and a
    plain open() give 0666 less the umask, and so must the exports."""
    old = os.umask(umask)
    try:
        (tmp_path / "plain").write_text("x")
        tok.save(tmp_path / "t.bpe")
        tok.save(tmp_path / "t.json", format="huggingface")
        tok.save(tmp_path / "t.tiktoken", format="tiktoken")
        tok.save(tmp_path / "t.json", format="huggingface")  # over an existing file, too
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"plain": expected, "t.bpe": expected, "t.json": expected, "t.tiktoken": expected}


@pytest.mark.parametrize("format", ["huggingface", "tiktoken"])
def test_export_errors_name_the_path_asked_for(tmp_path, tok, format):
    target = tmp_path / "no" / "such" / "dir" / "x.out"
    with pytest.raises(FileNotFoundError) as info:
        tok.save(target, format=format)
    assert info.value.filename == str(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    # A failed rename (the target is a folder) names the target and leaves no temporary file.
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError) as info:
        tok.save(tmp_path / "folder", format=format)
    assert info.value.filename == str(tmp_path / "folder") and ".tmp" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


# --- tokenizer.json settings that change HF's ids -------------------------------------------


def _set(*path_and_value):
    *keys, value = path_and_value
    return setter(keys, value)


def _eot(data):
    return data["added_tokens"][0]["id"]


def _template(data, with_special):
    """A TemplateProcessing that puts <|endoftext|> before the text, or adds nothing."""
    single = [{"Sequence": {"id": "A", "type_id": 0}}]
    specials = {}
    if with_special:
        single = [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}] + single
        specials = {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [_eot(data)], "tokens": ["<|endoftext|>"]}}
    pair = single + [{"Sequence": {"id": "B", "type_id": 1}}]
    return {"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials}


def _post(make):
    def edit(data):
        data["post_processor"] = make(data)

    return edit


BYTE_LEVEL_POST = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}

# (edit, what the error must name, a text on which HF's ids then differ from ours)
REFUSED = {
    "NFC": (_set("normalizer", {"type": "NFC"}), r"normalizer NFC", "e\u0301"),
    "Lowercase": (_set("normalizer", {"type": "Lowercase"}), r"normalizer Lowercase", "Hello"),
    "Sequence[NFC]": (_set("normalizer", {"type": "Sequence", "normalizers": [{"type": "NFC"}]}), r"normalizer Sequence \[NFC\]", "e\u0301"),
    "dropout": (_set("model", "dropout", 1.0), r"model\.dropout=1\.0", "hello world"),
    "prefix": (_set("model", "continuing_subword_prefix", "##"), r"model\.continuing_subword_prefix='##'", None),
    "suffix": (_set("model", "end_of_word_suffix", "</w>"), r"model\.end_of_word_suffix='</w>'", "zq"),
    "template": (_post(lambda d: _template(d, True)), r"post_processor TemplateProcessing", "hello"),
    "sequence": (_post(lambda d: {"type": "Sequence", "processors": [BYTE_LEVEL_POST, _template(d, True)]}),
                 r"post_processor Sequence \[ByteLevel, TemplateProcessing\]", "hello"),
    "roberta": (_post(lambda d: {"type": "RobertaProcessing", "sep": ["<|endoftext|>", _eot(d)], "cls": ["<|endoftext|>", _eot(d)],
                                 "trim_offsets": False, "add_prefix_space": False}), r"post_processor RobertaProcessing", "hello"),
    "truncation": (_set("truncation", {"direction": "Right", "max_length": 2, "strategy": "LongestFirst", "stride": 0}),
                   r"truncation", "hello world the cat"),
    "padding": (_set("padding", {"strategy": {"Fixed": 20}, "direction": "Right", "pad_to_multiple_of": None, "pad_id": 0,
                                 "pad_type_id": 0, "pad_token": "!"}), r"padding", "hello"),
    "lstrip": (_set("added_tokens", 0, "lstrip", True), r"'<\|endoftext\|>' has lstrip=true", "a <|endoftext|>"),
    "rstrip": (_set("added_tokens", 0, "rstrip", True), r"'<\|endoftext\|>' has rstrip=true", "<|endoftext|> a"),
    "single_word": (_set("added_tokens", 0, "single_word", True), r"'<\|endoftext\|>' has single_word=true", "a<|endoftext|>b"),
    "prefix space": (_set("pre_tokenizer", "pretokenizers", 1, "add_prefix_space", True), r"add_prefix_space=true", "hello"),
    "split after ByteLevel": (lambda d: d["pre_tokenizer"]["pretokenizers"].reverse(), r"pre_tokenizer 'Sequence'", "hello 12345"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_settings_that_change_hf_ids_are_refused(tmp_path, tok, name):
    edit, names, differs_on = REFUSED[name]
    data = formats.to_huggingface(tok)
    edit(data)
    path = hf_file(tmp_path, data, "edited.json")
    with pytest.raises(ValueError, match=rf"edited\.json: .*{names}"):
        bpe.Tokenizer.from_huggingface(path)
    with pytest.raises(ValueError, match=rf"edited\.json: .*{names}"):
        bpe.load(path)
    if differs_on is not None:  # the reason: HF really gives other ids (its prefix panics instead)
        assert hf_ids(path, differs_on) != tok.encode(differs_on, allowed_special="all")


ACCEPTED = {
    "defaults": lambda d: None,
    "empty normalizer Sequence": _set("normalizer", {"type": "Sequence", "normalizers": []}),
    "dropout 0": _set("model", "dropout", 0),
    "empty prefix and suffix": lambda d: d["model"].update(continuing_subword_prefix="", end_of_word_suffix=""),
    "unk, fuse_unk, byte_fallback": lambda d: d["model"].update(unk_token="<|endoftext|>", fuse_unk=True, byte_fallback=True),
    "ByteLevel post_processor": _set("post_processor", BYTE_LEVEL_POST),
    "template of the text alone": _post(lambda d: {"type": "Sequence", "processors": [BYTE_LEVEL_POST, _template(d, False)]}),
    "ignore_merges false": _set("model", "ignore_merges", False),
    "added token flags": lambda d: d["added_tokens"][0].update(normalized=True, special=False),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_settings_that_keep_hf_ids_load(tmp_path, tok, name):
    data = formats.to_huggingface(tok)
    ACCEPTED[name](data)
    path = hf_file(tmp_path, data)
    assert bpe.Tokenizer.from_huggingface(path) == tok
    assert hf_ids(path, TEXT) == tok.encode(TEXT, allowed_special="all")


def _bytes_and(*tokens):
    return bpe.Tokenizer.from_ranks([bytes([b]) for b in range(256)] + list(tokens))


def test_ignore_merges_false_needs_every_token_built_by_merges(tmp_path):
    """"abcd" (id 257) is a token, but from a, b, c, d the merges build only "ab": HF with
    ignore_merges=false splits the piece "abcd", where this tokenizer (and HF with true) looks
    it up whole."""
    tok = _bytes_and(b"ab", b"abcd")
    data = formats.to_huggingface(tok)
    assert data["model"]["ignore_merges"] is True
    path = hf_file(tmp_path, data)
    assert bpe.Tokenizer.from_huggingface(path) == tok
    assert hf_ids(path, "abcd xabcd") == tok.encode("abcd xabcd") == [257, 32, 120, 256, 99, 100]
    data["model"]["ignore_merges"] = False
    path = hf_file(tmp_path, data)
    with pytest.raises(ValueError, match=r'tokenizer\.json: model\.ignore_merges=false .* token 257 \("abcd"\)'):
        bpe.Tokenizer.from_huggingface(path)
    assert hf_ids(path, "abcd") != tok.encode("abcd")
    # Absent, the field is false in HF.
    del data["model"]["ignore_merges"]
    with pytest.raises(ValueError, match=r"model\.ignore_merges=false"):
        bpe.Tokenizer.from_huggingface(hf_file(tmp_path, data))


@pytest.mark.parametrize("ignore_merges", [True, False])
def test_a_merge_missing_from_the_list_is_refused(tmp_path, ignore_merges):
    """In "xabc" this tokenizer joins a + bc into "abc" (any two neighbours whose bytes are a token
    may join, as in tiktoken); HF joins only listed pairs, so without "a bc" it stops at a, bc."""
    tok = _bytes_and(b"bc", b"ab", b"abc")
    data = formats.to_huggingface(tok)
    assert "a bc" in data["model"]["merges"]
    data["model"]["ignore_merges"] = ignore_merges
    assert bpe.Tokenizer.from_huggingface(hf_file(tmp_path, data)) == tok
    data["model"]["merges"].remove("a bc")
    path = hf_file(tmp_path, data)
    with pytest.raises(ValueError, match=r'tokenizer\.json: the merges lack "a bc", .* token 258 \("abc"\)'):
        bpe.Tokenizer.from_huggingface(path)
    assert hf_ids(path, "xabc") == [120, 97, 256] != tok.encode("xabc") == [120, 258]


def test_gpt2_tokenizer_json_still_loads():
    """GPT-2's tokenizer.json has ignore_merges=false and one merge per token; it must load."""
    pytest.importorskip("tokenizers")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import vocabs

    data = json.loads(vocabs.hf_tokenizer_json("gpt2").read_text(encoding="utf-8"))
    assert data["model"]["ignore_merges"] is False
    assert bpe.Tokenizer.from_huggingface(vocabs.hf_tokenizer_json("gpt2")) == bpe.Tokenizer.from_gpt2(*vocabs.gpt2_files())


# --- which rank files get a named encoding's special tokens ---------------------------------


def _rank_file(tmp_path, name, n_tokens):
    tokens = [bytes([b]) for b in range(256)] + [f"t{i}".encode() for i in range(n_tokens - 256)]
    return bpe.Tokenizer.from_ranks(tokens).save(tmp_path / name, format="tiktoken")


def test_a_small_rank_file_gets_no_named_specials(tmp_path):
    path = _rank_file(tmp_path, "my_gpt2_1k.tiktoken", 998)
    loaded = bpe.load(path)  # the name says gpt2: the pattern, but not GPT-2's end-of-text id
    assert loaded.pattern == bpe.Tokenizer.from_tiktoken(path, pattern="gpt2").pattern
    assert loaded.special_tokens == {} and loaded.eot_token is None and loaded.n_vocab == 998
    for pattern in ["cl100k", "cl100k_base", "o200k_base", "gpt2", "r50k_base"]:
        assert bpe.Tokenizer.from_tiktoken(path, pattern=pattern).special_tokens == {}
    assert bpe.Tokenizer.from_tiktoken(path).special_tokens == {}  # (the pattern defaults to cl100k)
    given = {bpe.ENDOFTEXT: 998}
    assert bpe.Tokenizer.from_tiktoken(path, special_tokens=given).special_tokens == given


@pytest.mark.parametrize(
    "pattern, n_tokens, eot",
    [("gpt2", 50256, 50256), ("r50k_base", 50256, 50256), ("cl100k", 100256, 100257), ("cl100k_base", 100256, 100257)],
)
def test_a_rank_file_of_the_named_size_gets_its_specials(tmp_path, pattern, n_tokens, eot):
    """The size is what tells an encoding's own file (synthetic tokens here; test_compat loads the
    real ones); one token more or less gets none."""
    assert bpe.Tokenizer.from_tiktoken(_rank_file(tmp_path, "a.tiktoken", n_tokens), pattern=pattern).eot_token == eot
    assert bpe.Tokenizer.from_tiktoken(_rank_file(tmp_path, "b.tiktoken", n_tokens - 1), pattern=pattern).special_tokens == {}
    assert bpe.Tokenizer.from_tiktoken(_rank_file(tmp_path, "c.tiktoken", n_tokens + 1), pattern=pattern).special_tokens == {}


def test_named_sizes_match_the_named_specials():
    """Every named encoding has a size, and its special ids lie past its ordinary tokens."""
    assert formats.NAMED_SIZES.keys() == formats.NAMED_SPECIALS.keys()
    for name, size in formats.NAMED_SIZES.items():
        assert min(formats.NAMED_SPECIALS[name].values()) >= size
