"""The built-in pre-tokenizers split exactly as their regexes do, with the Python `regex`
module as the oracle, on hypothesis text and on real text."""

import pytest
import regex
from hypothesis import given, strategies as st

import bpe
import bpe._core as _core
from corpora import stdlib_files

GPT2_ORIGINAL = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CL100K_ORIGINAL = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# Characters each pattern treats specially, to make hypothesis find the corners fast.
TRICKY = list(
    "aZ sS'tlLvVreEdDmMT\n\r\t\x0b\x0c\x85\xa0\u1680\u2003\u2028\u3000 1٣²Ⅻ½.,!?/-_()\"é\u0301\u0308\u017fǅʰ\u02b0"
    "中文한국어ひらがなКириллица😀👍🏽\u200b\u200d\ufeff\U0001f1eb"
)
tricky_text = st.text(alphabet=st.sampled_from(TRICKY), max_size=40)
# Characters assigned in this Python's Unicode database. Code points assigned since then are
# classed by whichever Unicode version each regex engine carries (the `regex` module may know
# letters that the Rust tables, and so tiktoken, do not yet); tiktoken parity covers those.
any_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cn")), max_size=80)

ORACLES = {
    "gpt2": [_core.resolve_pattern("gpt2"), GPT2_ORIGINAL],
    "cl100k": [_core.resolve_pattern("cl100k")],
    "o200k": [_core.resolve_pattern("o200k")],
}


def tokenizer(pattern: str) -> bpe.Tokenizer:
    return bpe.Tokenizer.from_ranks([bytes([b]) for b in range(256)], pattern=pattern)


TOKS = {name: tokenizer(name) for name in ORACLES}


def check(name: str, text: str) -> None:
    ours = TOKS[name].pieces(text)
    assert "".join(ours) == text
    for pattern in ORACLES[name]:
        assert ours == regex.findall(pattern, text), (name, text, pattern)


@pytest.mark.parametrize("name", sorted(ORACLES))
@given(text=tricky_text)
def test_tricky_text(name, text):
    check(name, text)


@pytest.mark.parametrize("name", sorted(ORACLES))
@given(text=any_text)
def test_any_text(name, text):
    check(name, text)


# Longer texts, made of fragments that hold the corners of the patterns, so that pieces cross
# the 64-byte blocks the built-in pre-tokenizers read at a time.
FRAGMENTS = ["the", " cat", "Sat", "ON", "aB", " ", "  ", "\t", "\n", "\n\n", "\r\n", ".\n", ".\n/", "\n/*",
             " */", "//", "'s", "'LL", "'re", "don't", "0x1f", "12345", "(", ")", ", ", "!?", "\x00", "é",
             "中文", "\xa0", "\u2014", "\u3000", "\u0301", "ǅ", "٣"]
long_text = st.lists(st.sampled_from(FRAGMENTS), max_size=120).map("".join)


@pytest.mark.parametrize("name", sorted(ORACLES))
@given(text=long_text)
def test_long_text(name, text):
    check(name, text)


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_real_text(name):
    for path in stdlib_files()[::60]:
        check(name, path.read_text(encoding="utf-8", errors="replace"))
    check(name, "天下大势，分久必合，合久必分。Ünïcödé  façade's DON'T 1234567 x\u00a0\u00a0y\r\n\r\n  z")


def test_cl100k_forms_differ_only_on_trailing_whitespace():
    """tiktoken rewrote cl100k with `\\s++$`: a final run of whitespace holding a newline is now one
    piece. The rewritten form is the one tiktoken runs, so it is ours; elsewhere both agree."""
    text = "x\n  "
    assert TOKS["cl100k"].pieces(text) == ["x", "\n  "]
    assert regex.findall(CL100K_ORIGINAL, text) == ["x", "\n", "  "]
    body = "a\n  b  \n\n c's 12345 !!\n"
    assert TOKS["cl100k"].pieces(body + "z") == regex.findall(CL100K_ORIGINAL, body + "z")


def test_cl100k_contractions_are_case_insensitive():
    assert TOKS["cl100k"].pieces("DON'T I'LL it'S x\u017fy '\u017f") == regex.findall(ORACLES["cl100k"][0], "DON'T I'LL it'S x\u017fy '\u017f")
    assert "'S" in TOKS["cl100k"].pieces("it'S")
    assert "'\u017f" in TOKS["cl100k"].pieces("a'\u017f")


def test_digit_grouping():
    assert TOKS["cl100k"].pieces("1234567") == ["123", "456", "7"]
    assert TOKS["o200k"].pieces("1234567") == ["123", "456", "7"]
    assert TOKS["gpt2"].pieces("1234567") == ["1234567"]


def test_custom_regex_keeps_every_byte():
    tok = tokenizer(r"\w+")
    assert tok.pieces("ab, cd!") == ["ab", ", ", "cd", "!"]
    assert tok.decode(tok.encode("ab, cd!")) == "ab, cd!"
