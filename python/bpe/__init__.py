"""Fast, exact byte-level BPE: train a vocabulary, encode and decode, in Rust under Python.

>>> import bpe
>>> tok = bpe.train_from_iterator(["aaabdaaabac"], vocab_size=260, progress=False)
>>> tok.encode("aaabdaaabac")
[258, 100, 258, 97, 99]
"""

from .core import ENDOFTEXT, Tokenizer, TrainStats, encode, train, train_from_iterator
from .counts import WordCounts, count_files, count_words, load_counts, train_from_counts
from .formats import load

__all__ = [
    "ENDOFTEXT",
    "Tokenizer",
    "TrainStats",
    "WordCounts",
    "count_files",
    "count_words",
    "encode",
    "load",
    "load_counts",
    "train",
    "train_from_counts",
    "train_from_iterator",
]
__version__ = "0.1.0"
