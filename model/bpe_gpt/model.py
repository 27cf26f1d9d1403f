"""GPT-2, as the papers describe it, in one file.

Radford et al. 2019 ("Language Models are Unsupervised Multitask Learners"):
a decoder-only Transformer with learned position embeddings, LayerNorm moved to
the input of each sub-block (pre-LN) plus a final LayerNorm, GELU in the MLP,
the input embedding reused as the output projection (tied weights), and the
residual projections initialised with std 0.02 / sqrt(2 * n_layer), because
each layer adds two residual branches and their variances sum.

Shapes in comments use B = batch, T = time (tokens), C = n_embd, H = n_head,
D = C // H (head size), V = padded vocabulary.

>>> import torch
>>> from bpe_gpt.model import GPT, GPTConfig
>>> model = GPT(GPTConfig.preset("tiny", vocab_size=300))
>>> model.config.vocab_size          # padded up to a multiple of 64
320
>>> logits, loss = model(torch.zeros(2, 8, dtype=torch.long), torch.zeros(2, 8, dtype=torch.long))
>>> tuple(logits.shape)
(2, 8, 320)
>>> GPTConfig.preset("gpt3")
Traceback (most recent call last):
...
ValueError: unknown preset 'gpt3'; known: gpt2, gpt2-medium, gpt2-large, gpt2-xl, cpu, small, tiny
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def pad_vocab(n_vocab: int, multiple: int = 64) -> int:
    """Round a tokenizer's vocabulary up so the embedding and output matrices
    have a size that matrix kernels tile well (GPT-2's 50257 becomes 50304).

    >>> pad_vocab(50257), pad_vocab(8192), pad_vocab(1)
    (50304, 8192, 64)
    """
    if n_vocab < 1:
        raise ValueError(f"n_vocab must be positive, got {n_vocab}")
    return -(-n_vocab // multiple) * multiple


@dataclass
class GPTConfig:
    # 1024 is GPT-2's context; attention cost grows with its square.
    block_size: int = 1024
    # GPT-2's own 50257 tokens padded to a multiple of 64 (see pad_vocab);
    # normally set from the tokenizer by `GPTConfig.preset(..., vocab_size=n)`.
    vocab_size: int = 50304
    # 12 layers, 12 heads and width 768 are GPT-2 small (124M parameters).
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    # GPT-2 trained with dropout 0.1; for a single pass over plenty of data,
    # 0 is better and faster (as in later GPT-2 reproductions).
    dropout: float = 0.0
    # GPT-2 has biases in Linear and LayerNorm; without them it is slightly
    # faster and no worse, but True keeps it the published architecture.
    bias: bool = True

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @classmethod
    def preset(cls, name: str, vocab_size: int | None = None, **overrides) -> "GPTConfig":
        """A named size; `vocab_size` (the tokenizer's n_vocab) is padded to a multiple of 64."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        fields = dict(PRESETS[name])
        if vocab_size is not None:
            fields["vocab_size"] = pad_vocab(vocab_size)
        fields.update(overrides)
        return cls(**fields)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The four GPT-2 sizes of the paper, and small ones that train on a CPU in minutes.
PRESETS: dict[str, dict] = {
    "gpt2": dict(n_layer=12, n_head=12, n_embd=768),  # 124M
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024),  # 350M
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600),  # 1558M
    # Sized for the 15-minute pipeline on 2 CPU cores (a million or two tokens): a context of 128
    # rather than 256 costs less per token (attention), and learned more per token seen.
    "cpu": dict(n_layer=4, n_head=4, n_embd=128, block_size=128),
    "small": dict(n_layer=6, n_head=6, n_embd=384, block_size=256),
    # For tests: a forward and backward pass take milliseconds.
    "tiny": dict(n_layer=2, n_head=2, n_embd=32, block_size=32),
}


class KVCache:
    """Keys and values of the tokens seen so far, one pair of tensors per layer.

    Preallocated to `max_len` so decoding appends in place; `pos` is how many
    positions are filled.
    """

    def __init__(self, config: GPTConfig, batch: int, max_len: int, device, dtype) -> None:
        head = config.n_embd // config.n_head
        shape = (batch, config.n_head, max_len, head)  # (B, H, T_max, D)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.pos = 0
        self.max_len = max_len


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        # Queries, keys and values of all heads in one matrix multiply.
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.c_proj.residual = True  # scaled init, see GPT._init_weights
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        # (B, T, C) -> (B, H, T, D): each head attends separately.
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is None:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )  # (B, H, T, D)
        else:
            start = cache.pos
            cache.k[layer][:, :, start : start + T] = k
            cache.v[layer][:, :, start : start + T] = v
            k = cache.k[layer][:, :, : start + T]  # (B, H, start+T, D)
            v = cache.v[layer][:, :, : start + T]
            if T == 1:
                # One new token may attend to everything before it: no mask.
                y = F.scaled_dot_product_attention(q, k, v)
            else:
                # Query i sits at absolute position start+i and sees keys <= it.
                mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(diagonal=start)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)  # 4x as in GPT-2
        self.gelu = nn.GELU(approximate="tanh")  # the tanh form GPT-2 used
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.c_proj.residual = True
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """Pre-LN: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embedding
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned positions
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one (V, C) matrix reads and writes tokens
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "residual", False):
                std /= math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, embeddings: bool = True) -> int:
        """Parameters (tied weights counted once); without the position table if not `embeddings`."""
        n = sum(p.numel() for p in self.parameters())
        return n if embeddings else n - self.wpe.weight.numel()

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward): 6N for the weights plus
        12 * n_layer * T * C for the attention scores and their weighted sums. This is the
        PaLM paper's count (appendix B), which nanoGPT and llm.c use for MFU; it counts the
        masked half of causal attention too."""
        T = seq_len or self.config.block_size
        return 6 * self.num_params(embeddings=False) + 12 * self.config.n_layer * T * self.config.n_embd

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
        reduction: str = "mean",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) for token ids `idx` (B, T), and the cross-entropy to
        `targets` (B, T) if given (mean, or per token (B, T) with reduction="none").
        With a `cache`, `idx` continues the cached sequence and the cache advances."""
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size {self.config.block_size}")
        pos = torch.arange(start, start + T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for i, block in enumerate(self.h):
            x = block(x, cache, i)
        if cache is not None:
            cache.pos += T
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(B * T, -1), targets.reshape(B * T), reduction=reduction)
        return logits, loss.view(B, T) if reduction == "none" else loss

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        p = self.wte.weight
        return KVCache(self.config, batch, max_len or self.config.block_size, p.device, p.dtype)
