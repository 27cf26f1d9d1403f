import dataclasses
import math

import pytest
import torch

from bpe_gpt.model import GPT, GPTConfig, pad_vocab


def tiny(**kw):
    torch.manual_seed(0)
    return GPT(GPTConfig.preset("tiny", vocab_size=100, **kw))


def test_vocab_padded_to_multiple_of_64():
    assert pad_vocab(50257) == 50304
    assert GPTConfig.preset("gpt2", vocab_size=8192).vocab_size == 8192
    assert GPTConfig.preset("tiny", vocab_size=65).vocab_size == 128
    with pytest.raises(ValueError, match="unknown preset"):
        GPTConfig.preset("gpt5")
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=100, n_head=3)


@pytest.mark.parametrize("name, millions", [("gpt2", 124.44), ("gpt2-medium", 354.82),
                                            ("gpt2-large", 774.03), ("gpt2-xl", 1557.61)])
def test_presets_have_the_papers_sizes(name, millions):
    with torch.device("meta"):  # shapes only, no memory
        model = GPT(dataclasses.replace(GPTConfig.preset(name), vocab_size=50257))  # unpadded, as published
    assert model.num_params() / 1e6 == pytest.approx(millions, abs=0.01)


def test_gpt2_architecture():
    model = tiny()
    assert model.lm_head.weight is model.wte.weight  # tied
    block = model.h[0]
    # pre-LN: LayerNorm before attention and MLP, and a final one
    assert isinstance(block.ln_1, torch.nn.LayerNorm) and isinstance(model.ln_f, torch.nn.LayerNorm)
    assert isinstance(block.mlp.gelu, torch.nn.GELU)


def test_residual_projections_scaled_init():
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=8, n_head=4, n_embd=256, block_size=16, vocab_size=64)
    model = GPT(cfg)
    resid = torch.cat([torch.cat([b.attn.c_proj.weight.flatten(), b.mlp.c_proj.weight.flatten()]) for b in model.h])
    other = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.h])
    assert resid.std().item() == pytest.approx(0.02 / math.sqrt(2 * cfg.n_layer), rel=0.02)
    assert other.std().item() == pytest.approx(0.02, rel=0.02)


def test_causality_later_tokens_never_change_earlier_logits():
    model = tiny().eval()
    x = torch.randint(0, 100, (2, 32))
    base, _ = model(x)
    for t in (0, 5, 31):
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % 100
        logits, _ = model(y)
        torch.testing.assert_close(logits[:, :t], base[:, :t], rtol=0, atol=1e-6)
        assert not torch.allclose(logits[:, t], base[:, t])


def test_overfits_one_batch():
    model = tiny()
    x = torch.randint(0, 100, (4, 32))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_loss_per_token_and_context_limit():
    model = tiny().eval()
    x = torch.randint(0, 100, (2, 8))
    _, mean = model(x, x)
    _, each = model(x, x, reduction="none")
    assert each.shape == (2, 8)
    torch.testing.assert_close(each.mean(), mean)
    with pytest.raises(ValueError, match="exceeds block_size"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_kv_cache_logits_match_full_forward():
    model = tiny().eval()
    x = torch.randint(0, 100, (2, 20))
    full, _ = model(x)
    cache = model.new_cache(2)
    parts = [model(x[:, :7], cache=cache)[0]] + [model(x[:, t : t + 1], cache=cache)[0] for t in range(7, 20)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)
    assert cache.pos == 20
