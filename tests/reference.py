"""A naive BPE trainer, written plainly: recount every pair at every merge.

It follows the rule the Rust trainer documents: the most frequent pair; among equals the smallest
(left id, right id); never a pair whose bytes already form a token; occurrences merged left to
right within a word. The pre-tokenizer is the Python `regex` module running the pattern itself.
"""

from collections import Counter

import regex

import bpe._core as _core


def pieces(text: str, pattern: str) -> list[str]:
    return regex.findall(_core.resolve_pattern(pattern), text)


def train(texts: list[str], n_merges: int, pattern: str = "gpt2") -> list[tuple[int, int]]:
    counts = Counter(p for t in texts for p in pieces(t, pattern))
    words = [(list(w.encode("utf-8")), c) for w, c in counts.items()]
    token_bytes = [bytes([b]) for b in range(256)]
    known = set(token_bytes)
    banned = set()
    merges = []
    while len(merges) < n_merges:
        pairs = Counter()
        for w, c in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        candidates = [(c, p) for p, c in pairs.items() if p not in banned and c > 0]
        if not candidates:
            break
        best_count = max(c for c, _ in candidates)
        a, b = min(p for c, p in candidates if c == best_count)
        new = token_bytes[a] + token_bytes[b]
        if new in known:
            banned.add((a, b))
            continue
        t = len(token_bytes)
        token_bytes.append(new)
        known.add(new)
        merges.append((a, b))
        for i, (w, c) in enumerate(words):
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(t)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = (out, c)
    return merges
