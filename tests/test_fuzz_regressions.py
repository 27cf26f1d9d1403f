"""Fuzzing the Python-side loaders (tiktoken, GPT-2, HF tokenizer.json, ``bpe.load``): valid
files of a small vocabulary, mutated at random, must load or raise ``ValueError``/``OSError``
naming the file, never ``TypeError``, ``KeyError``, ``AttributeError``, ``RecursionError`` or a
Rust panic. The Rust loaders have cargo-fuzz targets instead (``fuzz/``, see tests/FUZZING.md).

BPE_EXAMPLES sets the number of examples, as for every hypothesis test here; the deep run in
tests/FUZZING.md sets it high with a time limit.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import bpe
from bpe import formats
from jsonpath import setter

CLEAN = (ValueError, OSError)  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The three foreign formats of one small vocabulary, as text."""
    tok = bpe.train_from_iterator(["hello world, hello tokens; it's 12 o'clock\n" * 4, "aaaa bbbb"], 280, progress=False)
    hf = json.dumps(formats.to_huggingface(tok))
    tiktoken = formats.to_tiktoken(tok)
    spelled, _ = tok._core.hf_spelling()
    encoder = {t: i for i, t in enumerate(spelled)}
    encoder.update(tok.special_tokens)
    merges = [f"{spelled[l]} {spelled[r]}" for l, r in tok.merges]
    vocab_bpe = "#version: 0.2\n" + "\n".join(merges) + "\n"
    return {"hf": hf, "tiktoken": tiktoken, "encoder": json.dumps(encoder), "vocab_bpe": vocab_bpe}


json_scalars = st.none() | st.booleans() | st.integers(-3, 400) | st.floats(allow_nan=False) | st.text(max_size=6)
any_json = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3), max_leaves=8)


def mutate_json(data, value):
    """Replace, drop or keep nodes of a JSON value as the fuzzer draws; in a big object or list
    (the vocab, the merges) only a few drawn entries are visited."""
    if data.draw(st.integers(0, 30)) == 0:
        return data.draw(any_json)
    if isinstance(value, (dict, list)):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        if len(keys) > 12:
            keys = data.draw(st.lists(st.sampled_from(keys), max_size=6, unique=True))
        out = dict(value) if isinstance(value, dict) else list(value)
        for k in sorted(keys, reverse=True):  # lists: later indices first, so deletions keep the rest
            if data.draw(st.integers(0, 40)) == 0:
                del out[k]
            else:
                out[k] = mutate_json(data, out[k])
        return out
    return value


def mutate_lines(data, text):
    """Delete, duplicate, swap or garble a few lines of a text file."""
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(0, 4))):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "garble", "insert", "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "garble":
            s = lines[i]
            j = data.draw(st.integers(0, len(s)))
            lines[i] = s[:j] + data.draw(st.text(max_size=4)) + s[j + data.draw(st.integers(0, 3)) :]
        elif op == "insert":
            lines.insert(i, data.draw(st.text(max_size=12)))
        else:
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def loads_or_fails_cleanly(load):
    try:
        tok = load()
    except CLEAN:
        return
    assert tok.decode(tok.encode("hello world")) == "hello world"


deep = settings(suppress_health_check=list(HealthCheck), deadline=None)


@deep
@given(data=st.data())
def test_huggingface_json_mutated(tmp_path_factory, files, data):
    value = mutate_json(data, json.loads(files["hf"]))
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    path.write_text(json.dumps(value))
    loads_or_fails_cleanly(lambda: bpe.Tokenizer.from_huggingface(path))
    loads_or_fails_cleanly(lambda: bpe.load(path))


@deep
@given(data=st.data())
def test_gpt2_files_mutated(tmp_path_factory, files, data):
    folder = tmp_path_factory.mktemp("gpt2")
    encoder = mutate_json(data, json.loads(files["encoder"]))
    (folder / "encoder.json").write_text(json.dumps(encoder))
    (folder / "vocab.bpe").write_text(mutate_lines(data, files["vocab_bpe"]))
    loads_or_fails_cleanly(lambda: bpe.Tokenizer.from_gpt2(folder / "encoder.json", folder / "vocab.bpe"))
    loads_or_fails_cleanly(lambda: bpe.load(folder / "vocab.bpe"))


@deep
@given(data=st.data(), pattern=st.sampled_from(["gpt2", "cl100k", "o200k_base", r"\w+|\s"]))
def test_tiktoken_file_mutated(tmp_path_factory, files, data, pattern):
    path = tmp_path_factory.mktemp("tt") / "cl100k_base.tiktoken"
    path.write_text(mutate_lines(data, files["tiktoken"]))
    loads_or_fails_cleanly(lambda: bpe.Tokenizer.from_tiktoken(path, pattern=pattern))
    loads_or_fails_cleanly(lambda: bpe.load(path))


@deep
@given(head=st.sampled_from([b"", b"{", b"[", b" {\"model\": ", b"#version", b"YQ== 0\n", b"bpe-counts 1 "]), body=st.binary(max_size=300))
def test_load_any_bytes(tmp_path_factory, head, body):
    folder = tmp_path_factory.mktemp("any")
    for name in ("t.json", "encoder.json", "vocab.bpe", "gpt2.tiktoken"):
        (folder / name).write_bytes(head + body)
    for name in ("t.json", "encoder.json", "vocab.bpe", "gpt2.tiktoken"):
        loads_or_fails_cleanly(lambda: bpe.load(folder / name))
    try:
        bpe.load_counts(folder / "t.json")
    except CLEAN:
        pass


# --- what the fuzzing above found, minimized -------------------------------------------------


_set = setter


@pytest.mark.parametrize(
    "edit",
    [
        _set(["pre_tokenizer", "pretokenizers", 0, "behavior"], {}),  # was AttributeError: .lower
        _set(["pre_tokenizer", "pretokenizers", 0, "pattern"], "x"),  # was AttributeError: .get
        _set(["pre_tokenizer", "pretokenizers", 0, "pattern"], {"Regex": ["x"]}),  # .replace
        _set(["model", "vocab"], True),  # was AttributeError: .items
        _set(["model", "merges", 0], None),  # was TypeError: cannot unpack None
        _set(["added_tokens", 0], {"id": 5}),  # was KeyError: 'content'
        _set(["added_tokens", 0, "id"], None),  # was TypeError from the Rust glue
        _set(["added_tokens"], 7),  # was TypeError: not iterable
    ],
)
def test_malformed_tokenizer_json_is_a_value_error(tmp_path, files, edit):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(edit(json.loads(files["hf"]))))
    with pytest.raises(ValueError, match="tokenizer.json"):
        bpe.Tokenizer.from_huggingface(path)


def test_deeply_nested_json_is_a_value_error(tmp_path):
    """json.load raised RecursionError on 100,000 nested brackets."""
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": ' + "[" * 100_000)
    with pytest.raises(ValueError, match=r"tokenizer\.json, line 1: not valid JSON \(EOF"):
        bpe.load(path)
    path.write_text('{"model": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match="not a BPE tokenizer.json"):
        bpe.load(path)
    path.write_text("{" + '"a": {' * 100_000)
    with pytest.raises(ValueError, match="tokenizer.json"):
        bpe.load(path)
