"""Chunking: sizes in characters, cuts at paragraph > sentence > word boundaries, overlap."""
import random

import pytest

from glwork.errors import ConfigurationError
from glwork.rag.chunking import split_sentences, split_text


def test_short_text_is_one_stripped_chunk():
    pieces = split_text("  Scope 1 covers direct emissions.  \n", 100, 20)
    assert [p.text for p in pieces] == ["Scope 1 covers direct emissions."]
    assert (pieces[0].start, pieces[0].end) == (2, 34)


def test_prefers_paragraph_breaks():
    a = "Alpha sentence one. Alpha sentence two is here."   # 47 chars
    b = "Beta paragraph has its own text. It goes on a while."
    pieces = split_text(f"{a}\n\n{b}", chunk_size=80, chunk_overlap=0)
    assert [p.text for p in pieces] == [a, b]


def test_falls_back_to_sentences_then_words():
    text = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen."
    pieces = split_text(text, chunk_size=55, chunk_overlap=0)
    assert pieces[0].text == "One two three four five. Six seven eight nine ten."
    words = split_text("word " * 40, chunk_size=52, chunk_overlap=0)
    assert all(len(p.text) <= 52 and p.text.endswith("word") for p in words)   # never mid-word
    hard = split_text("x" * 120, chunk_size=50, chunk_overlap=0)
    assert [len(p.text) for p in hard] == [50, 50, 20]


def test_overlap_starts_at_a_sentence_inside_the_window():
    sents = [f"Sentence number {i} is here." for i in range(12)]     # 26-27 chars each
    text = " ".join(sents)
    pieces = split_text(text, chunk_size=120, chunk_overlap=40)
    assert len(pieces) > 2
    for prev, nxt in zip(pieces, pieces[1:]):
        assert nxt.start < prev.end                     # they overlap ...
        assert prev.end - nxt.start <= 40               # ... by at most chunk_overlap
        assert nxt.text.startswith("Sentence number")   # ... from a sentence start


def test_offsets_cover_the_text_and_sizes_hold():
    rng = random.Random(7)
    for _ in range(300):
        text = "".join(rng.choice("abc de.\n!") for _ in range(rng.randint(0, 1500)))
        size = rng.randint(50, 300)
        overlap = rng.randint(0, size - 1)
        pieces = split_text(text, size, overlap)
        covered = set()
        for p in pieces:
            assert p.text and len(p.text) <= size and text[p.start:p.end] == p.text
            covered.update(range(p.start, p.end))
        assert all(i in covered or c.isspace() for i, c in enumerate(text))
        for prev, nxt in zip(pieces, pieces[1:]):
            assert nxt.start > prev.start and nxt.end > prev.end and nxt.start >= prev.end - overlap


@pytest.mark.parametrize("size, overlap", [(10, 0), (100, 100), (100, -1), (100.0, 10), ("1000", 0), (100, True)])
def test_bad_sizes(size, overlap):
    with pytest.raises(ConfigurationError, match="chunk_"):
        split_text("text", size, overlap)


def test_split_sentences():
    assert split_sentences("Hello world. Is it? Yes!\nNew line") == ["Hello world.", "Is it?", "Yes!", "New line"]
