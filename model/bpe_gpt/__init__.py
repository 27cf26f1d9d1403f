"""A compact GPT-2 in PyTorch, trained on the token shards that `bpe` writes.

>>> from bpe_gpt import GPT, GPTConfig
>>> GPT(GPTConfig.preset("tiny", vocab_size=1000)).config.vocab_size
1024
"""

from .data import ShardError, TokenStream, WindowSampler
from .evaluate import compressor_bpb, evaluate
from .model import GPT, PRESETS, GPTConfig, pad_vocab
from .pipeline import PipelineConfig, run_pipeline
from .sample import generate
from .train import TrainConfig, load_model, train

__all__ = [
    "GPT", "GPTConfig", "PRESETS", "pad_vocab", "ShardError", "TokenStream", "WindowSampler",
    "TrainConfig", "train", "load_model", "generate", "evaluate", "compressor_bpb",
    "PipelineConfig", "run_pipeline",
]
