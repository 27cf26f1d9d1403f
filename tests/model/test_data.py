import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpe_gpt.data import ShardError, TokenStream, WindowSampler, write_shard
from model_helpers import EOT, FINGERPRINT, N_VOCAB


@pytest.mark.parametrize("n_vocab, dtype", [(65536, "uint16"), (70000, "uint32")])
def test_reads_uint16_and_uint32_shards_across_boundaries(tmp_path, n_vocab, dtype):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, n_vocab, size=1000)
    for i, part in enumerate(np.split(tokens, [300, 300, 750])):  # one empty shard too
        write_shard(tmp_path, i, part, n_vocab, n_vocab - 1, FINGERPRINT)
    assert json.loads((tmp_path / "shard_000000.json").read_text())["dtype"] == dtype
    assert (tmp_path / "shard_000000.bin").stat().st_size == 300 * np.dtype(dtype).itemsize
    stream = TokenStream(tmp_path, fingerprint=FINGERPRINT)
    assert len(stream) == 1000 and stream.n_vocab == n_vocab and stream.eot_token == n_vocab - 1
    assert np.array_equal(stream.read(0, 1000), tokens)
    assert np.array_equal(stream.read(290, 500), tokens[290:790])  # spans three shards
    with pytest.raises(IndexError):
        stream.read(990, 11)


def test_fingerprint_mismatch_is_a_clear_error(shards):
    directory, _ = shards
    with pytest.raises(ShardError, match="written by tokenizer f{64}, not by the one in use 0{64}"):
        TokenStream(directory, fingerprint="0" * 64)
    TokenStream(directory, fingerprint=FINGERPRINT)


def test_malformed_shard_directories(tmp_path):
    with pytest.raises(ShardError, match="no shard_"):
        TokenStream(tmp_path)
    write_shard(tmp_path, 0, [1, 2, 3], N_VOCAB, EOT, FINGERPRINT)
    write_shard(tmp_path, 1, [1, 2, 3], N_VOCAB, EOT, "e" * 64)
    with pytest.raises(ShardError, match="tokenizer_fingerprint"):
        TokenStream(tmp_path)
    write_shard(tmp_path, 1, [1, 2, 3], N_VOCAB, EOT, FINGERPRINT)
    (tmp_path / "shard_000001.bin").write_bytes(b"\0" * 5)
    with pytest.raises(ShardError, match="5 bytes, but the sidecar says 3 uint16"):
        TokenStream(tmp_path)
    (tmp_path / "shard_000001.json").unlink()
    with pytest.raises(ShardError, match="missing sidecar"):
        TokenStream(tmp_path)


def test_validation_split_is_the_tail(shards):
    directory, tokens = shards
    stream = TokenStream(directory)
    start = stream.split(0.1)
    assert start == 27_000
    with pytest.raises(ValueError):
        stream.split(0)


def epoch_windows(stream, rank, world, batch=4, block=16, hi=20_000):
    sampler = WindowSampler(stream, 0, hi, block, seed=3, rank=rank, world_size=world)
    steps = sampler.n_windows // (batch * world)
    return [sampler.next_starts(batch).tolist() for _ in range(steps)], sampler


def test_windows_are_disjoint_across_ranks_and_without_replacement(shards):
    stream = TokenStream(shards[0])
    r0, sampler = epoch_windows(stream, 0, 2)
    r1, _ = epoch_windows(stream, 1, 2)
    s0, s1 = {s for b in r0 for s in b}, {s for b in r1 for s in b}
    assert not s0 & s1
    n = sum(len(b) for b in r0)
    assert len(s0) == n  # no window twice in an epoch
    assert all(s % 16 == 0 and s + 17 <= 20_000 for s in s0 | s1)
    # together, two ranks see exactly what one process with the whole batch sees
    alone, _ = epoch_windows(stream, 0, 1, batch=8)
    assert [a + b for a, b in zip(r0, r1)] == alone
    # the next epoch is a different order of the same windows
    assert sampler.epoch == 0
    sampler.next_starts(4)
    assert sampler.epoch == 1


def test_batches_and_exact_resume_of_the_position(shards):
    stream = TokenStream(shards[0])
    a = WindowSampler(stream, 0, 20_000, 16, seed=1)
    x, y = a.next_batch(4)
    assert x.shape == y.shape == (4, 16)
    assert np.array_equal(x[:, 1:].numpy(), y[:, :-1].numpy())  # targets are inputs shifted by one
    for _ in range(400):  # well into the second epoch
        a.next_starts(4)
    state = a.state_dict()
    b = WindowSampler(stream, 0, 20_000, 16, seed=1)
    b.load_state_dict(state)
    assert [a.next_starts(4).tolist() for _ in range(50)] == [b.next_starts(4).tolist() for _ in range(50)]
    with pytest.raises(ValueError, match="data or its split changed"):
        WindowSampler(stream, 0, 10_000, 16, seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="does not fit"):
        WindowSampler(stream, 0, 100, 16).next_starts(8)


@given(sizes=st.lists(st.integers(0, 50), min_size=1, max_size=5), data=st.data())
def test_any_read_equals_the_concatenation(tmp_path_factory, sizes, data):
    if sum(sizes) == 0:
        sizes[0] = 1
    directory = tmp_path_factory.mktemp("shards")
    tokens = np.arange(sum(sizes)) * 7 % N_VOCAB
    for i, part in enumerate(np.split(tokens, np.cumsum(sizes)[:-1])):
        write_shard(directory, i, part, N_VOCAB, EOT, FINGERPRINT)
    stream = TokenStream(directory)
    start = data.draw(st.integers(0, len(tokens) - 1))
    length = data.draw(st.integers(0, len(tokens) - start))
    assert np.array_equal(stream.read(start, length), tokens[start : start + length])
