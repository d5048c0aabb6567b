"""Bulk embedding: float32 for small corpora (same scores on every machine), bf16 only for large ones."""
import numpy as np

from glwork.rag import embed


class Recorder(embed.LocalEmbedder):
    def __init__(self):      # no model: records how encode() is called
        self.calls = []

    def encode(self, texts, fast=False):
        self.calls.append((len(texts), fast))
        return np.ones((len(texts), 4), dtype=np.float32)


def test_small_corpora_are_embedded_in_float32():
    rec = Recorder()
    out = embed.encode_all(rec, ["a text"] * 600)
    assert out.shape == (600, 4)
    assert rec.calls and not any(fast for _, fast in rec.calls)


def test_large_corpora_may_use_bfloat16():
    rec = Recorder()
    embed.encode_all(rec, ["t"] * embed.BF16_FROM_TOTAL)
    assert all(fast for _, fast in rec.calls)


def test_other_embedders_are_never_asked_for_fast_mode():
    class Plain:
        def encode(self, texts):
            return np.ones((len(texts), 2), dtype=np.float32)
    assert embed.encode_all(Plain(), ["t"] * embed.BF16_FROM_TOTAL).shape == (embed.BF16_FROM_TOTAL, 2)


def test_order_of_rows_follows_the_input():
    class Length:
        def encode(self, texts):
            return np.asarray([[len(t), 1.0] for t in texts], dtype=np.float32)
    texts = ["aaa", "a", "aaaaa", "aa"]
    out = embed.encode_all(Length(), texts, batch=2)
    assert [row[0] for row in out] == [3, 1, 5, 2]
