"""Loading a tokenizer from its file: `bpe` against tiktoken and HF tokenizers.

Every user pays this before the first token (a command-line run pays it every time). Each
loader reads the same vocabulary from a file, in one process, in rounds that run every loader
in turn (each once untimed, then once timed; median of `--repeat` rounds):

  bpe (.bpe)        `bpe.load` of the tokenizer saved in this project's own format
  bpe (same file)   `bpe.Tokenizer.from_tiktoken` (cl100k, o200k) or `from_gpt2` (GPT-2's
                    encoder.json + vocab.bpe): the very file tiktoken reads
  tiktoken          `tiktoken.Encoding` from that file (`load_tiktoken_bpe` or
                    `data_gym_to_mergeable_bpe_ranks`, then the constructor)
  HF tokenizers     `tokenizers.Tokenizer.from_file` of the tokenizer.json that vocabs.py writes
  bpe (tokenizer.json)  `bpe.Tokenizer.from_huggingface` of that same tokenizer.json

    python benchmarks/load.py
    python benchmarks/load.py --vocab o200k_base --repeat 3 --no-write
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import encode  # noqa: E402
import vocabs  # noqa: E402
from _common import interleaved_medians, markdown_table, provenance, publish  # noqa: E402


def loaders(vocab: str, bpe_file: Path) -> dict:
    """Name -> a callable that loads `vocab` from its file and returns the tokenizer."""
    import bpe
    import tiktoken
    import tiktoken.load
    import tokenizers

    spec = vocabs.encoding_spec(vocab)
    specials, pattern = vocabs.special_tokens(vocab), vocabs.BPE_PATTERN[vocab]
    if vocab == "gpt2":
        encoder_json, vocab_bpe = (str(p) for p in vocabs.gpt2_files())
        ours_same = lambda: bpe.Tokenizer.from_gpt2(encoder_json, vocab_bpe)  # noqa: E731
        ranks = lambda: tiktoken.load.data_gym_to_mergeable_bpe_ranks(vocab_bpe, encoder_json)  # noqa: E731
    else:
        rank_file = str(vocabs.tiktoken_file(vocab))
        ours_same = lambda: bpe.Tokenizer.from_tiktoken(rank_file, pattern=pattern, special_tokens=specials)  # noqa: E731
        ranks = lambda: tiktoken.load.load_tiktoken_bpe(rank_file)  # noqa: E731
    hf_file = str(vocabs.hf_tokenizer_json(vocab))
    return {
        "bpe (.bpe)": lambda: bpe.load(bpe_file),
        "bpe (same file)": ours_same,
        "tiktoken": lambda: tiktoken.Encoding(vocab, pat_str=spec["pat_str"], mergeable_ranks=ranks(),
                                              special_tokens=spec["special_tokens"]),
        "HF tokenizers": lambda: tokenizers.Tokenizer.from_file(hf_file),
        "bpe (tokenizer.json)": lambda: bpe.Tokenizer.from_huggingface(hf_file),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", nargs="+", default=["gpt2", "cl100k_base", "o200k_base"])
    ap.add_argument("--repeat", type=int, default=7, help="timed rounds (median)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for vocab in args.vocab:
            bpe_file = encode.load_bpe(vocab).save(Path(tmp) / f"{vocab}.bpe")
            fns = loaders(vocab, bpe_file)
            for name, fn in fns.items():  # every loader gives the same vocabulary
                n = fn().n_vocab if name != "HF tokenizers" else fn().get_vocab_size(with_added_tokens=True)
                print(f"  {vocab} {name}: n_vocab {n}", flush=True)
            ms = {k: v * 1e3 for k, v in interleaved_medians(fns, args.repeat).items()}
            # Each against the peer that reads the same file: HF for the tokenizer.json, else tiktoken.
            tt, hf = ms["tiktoken"], ms["HF tokenizers"]
            cells = {k: f"{v:.0f} ({tt / v:.2f}x)" for k, v in ms.items()}
            cells["tiktoken"] = f"{tt:.0f}"
            cells["bpe (tokenizer.json)"] = f"{ms['bpe (tokenizer.json)']:.0f} ({hf / ms['bpe (tokenizer.json)']:.2f}x HF)"
            rows.append([vocab] + [cells[k] for k in fns])
            print(f"{vocab}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in ms.items()), flush=True)
    header = ["vocabulary", "bpe, .bpe file", "bpe, tiktoken's file", "tiktoken", "HF tokenizers (tokenizer.json)",
              "bpe, the same tokenizer.json"]
    body = f"""## Loading a tokenizer from its file

{provenance(("tiktoken", "tiktoken"), ("HF tokenizers", "tokenizers"))}
Milliseconds to load the vocabulary from its file (median of {args.repeat} rounds in one process, every loader in turn; in brackets how many times faster than tiktoken, or for the last column than HF tokenizers reading the same file). "tiktoken's file" is the `.tiktoken` rank file (cl100k, o200k) or GPT-2's encoder.json + vocab.bpe, the very file tiktoken reads.

{markdown_table(header, rows)}
"""
    publish("load", body, not args.no_write)


if __name__ == "__main__":
    main()
