import pytest
import torch

from bpe_gpt.model import GPT, GPTConfig
from bpe_gpt.sample import filter_logits, generate


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig.preset("tiny", vocab_size=100)).eval()


def test_kv_cache_sampler_gives_the_plain_forward_tokens(model):
    greedy = dict(temperature=0, max_new_tokens=28)
    with_cache = generate(model, [5, 6, 7, 8], use_cache=True, **greedy)
    without = generate(model, [5, 6, 7, 8], use_cache=False, **greedy)
    assert with_cache == without and len(with_cache[0]) == 28
    # and with sampling, the same seed gives the same tokens either way
    a = generate(model, [5], 30, num_samples=3, seed=7, top_k=10, top_p=0.9, use_cache=True)
    b = generate(model, [5], 30, num_samples=3, seed=7, top_k=10, top_p=0.9, use_cache=False)
    assert a == b


def test_seed_reproducible_and_beyond_the_context(model):
    a = generate(model, [1, 2], 80, seed=1)  # 82 tokens > block_size 32: the cache restarts
    assert a == generate(model, [1, 2], 80, seed=1)
    assert a != generate(model, [1, 2], 80, seed=2)
    assert len(a[0]) == 80


def test_stops_at_end_of_text_and_never_samples_padding(model):
    with torch.no_grad():
        model.lm_head.weight[99] += 5 * model.lm_head.weight[3]  # make token 99 likely after a while
    rows = generate(model, [3], 60, num_samples=4, seed=0, stop_token=99, top_k=None, n_vocab=100)
    assert all(99 not in row for row in rows)
    assert any(len(row) < 60 for row in rows)
    padded = generate(model, [3], 200, num_samples=2, seed=0, top_k=None, temperature=5.0, n_vocab=90)
    assert max(max(r) for r in padded) < 90


def test_filter_logits():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert filter_logits(logits, top_k=2).tolist() == [[float("-inf"), 3.0, 2.0, float("-inf")]]
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = filter_logits(probs, top_p=0.75).isfinite().tolist()
    assert kept == [[True, True, False, False]]
    assert filter_logits(probs, top_p=0.01).isfinite().sum() == 1  # the most likely always stays


def test_empty_prompt_is_an_error(model):
    with pytest.raises(ValueError, match="prompt is empty"):
        generate(model, [], 5)
