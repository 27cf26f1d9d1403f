"""Sample text from a trained GPT: KV cache, temperature, top-k, top-p, a seed, stop at end-of-text.

    bpe-gpt sample --checkpoint runs/pipeline/ckpt.pt --prompt "def main(" --num-samples 3
"""

from __future__ import annotations

import secrets

import torch

from .model import GPT


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Keep the `top_k` most likely tokens and the smallest set whose probability reaches
    `top_p` (nucleus sampling); the rest get -inf. logits: (B, V).

    >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), top_k=2).tolist()
    [[-inf, 3.0, 2.0, -inf]]
    """
    if top_k is not None and top_k > 0 and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token if the ones before it already reach top_p (the first always stays).
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(model: GPT, prompt: list[int], max_new_tokens: int, num_samples: int = 1,
             temperature: float = 1.0, top_k: int | None = 40, top_p: float | None = None,
             seed: int | None = None, stop_token: int | None = None, n_vocab: int | None = None,
             use_cache: bool = True) -> list[list[int]]:
    """Continue `prompt` (token ids) `num_samples` times; returns the new tokens of each,
    cut before `stop_token` (end-of-text) if it comes.

    Args:
        temperature: 0 picks the most likely token every time (greedy).
        top_k: sample among the k most likely tokens (40 as in GPT-2's published samples); None for all.
        top_p: and among the fewest whose probabilities reach p; None or 1.0 for all.
        seed: seeds the sampler's own generator, so a seed gives the same text every time.
        stop_token: end-of-text; generation stops when every sample has produced it.
        n_vocab: the tokenizer's vocabulary; the padding ids above it are never sampled.
        use_cache: keep keys and values of past tokens (a KV cache) rather than re-running the
            whole context for each new token; both give the same tokens while the sequence
            fits in block_size (after that, the cache restarts from the last half block).

    >>> generate(model, [], 5)                               # doctest: +SKIP
    Traceback (most recent call last):
    ...
    ValueError: the prompt is empty; start it with the end-of-text token to sample from nothing
    """
    if not prompt:
        raise ValueError("the prompt is empty; start it with the end-of-text token to sample from nothing")
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, not {num_samples}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must not be negative, not {max_new_tokens}")
    if not temperature >= 0:  # (NaN too)
        raise ValueError(f"temperature must be 0 (greedy) or more, not {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], not {top_p}")
    device = model.wte.weight.device
    gen = torch.Generator(device=device)
    # Without a seed, one from the OS: torch.seed() would reseed torch's global generator too.
    gen.manual_seed(seed if seed is not None else secrets.randbits(63))
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    if device.type == "cpu":
        torch.set_num_threads(1)  # one token at a time: too little work to share, and threads wait on each other
    try:
        out = _decode(model, prompt, max_new_tokens, num_samples, temperature, top_k, top_p, gen, stop_token,
                      n_vocab, use_cache)
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    rows = torch.cat(out, dim=1).tolist() if out else [[] for _ in range(num_samples)]
    if stop_token is not None:
        rows = [row[: row.index(stop_token)] if stop_token in row else row for row in rows]
    return rows


def _decode(model, prompt, max_new_tokens, num_samples, temperature, top_k, top_p, gen, stop_token, n_vocab,
            use_cache) -> list[torch.Tensor]:
    """The sampling loop of `generate`: the new tokens, one (B, 1) tensor per step."""
    block, device = model.config.block_size, model.wte.weight.device
    seq = torch.tensor([prompt[-block:]] * num_samples, dtype=torch.long, device=device)  # (B, T)
    finished = torch.zeros(num_samples, dtype=torch.bool, device=device)
    out = []
    cache, logits = None, None
    for _ in range(max_new_tokens):
        if not use_cache:
            logits, _ = model(seq[:, -block:])
        elif cache is None or cache.pos >= block:
            # Start (or, once the context is full, restart) the cache from the last half block of tokens.
            cache = model.new_cache(num_samples)
            logits, _ = model(seq[:, -(block // 2 if logits is not None else block):], cache=cache)
        else:
            logits, _ = model(seq[:, -1:], cache=cache)
        logits = logits[:, -1, :].float()  # (B, V)
        if n_vocab is not None:
            logits[:, n_vocab:] = float("-inf")
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)  # (B, 1)
        else:
            probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=gen)  # (B, 1)
        out.append(nxt)
        seq = torch.cat([seq, nxt], dim=1)
        if stop_token is not None:
            finished |= nxt[:, 0] == stop_token
            if finished.all():
                break
    return out
