"""Split a document into overlapping chunks.

Sizes count CHARACTERS, not tokens (1,000 characters of English are roughly 200-250 tokens, which
fits all-MiniLM-L6-v2's 256-token window). A chunk ends, in order of preference, at a paragraph
break, a sentence or line end, a word boundary, and only as a last resort mid-word. The next chunk
starts up to `chunk_overlap` characters before the previous one ended, at a sentence start if one
lies in that window, else at a word start.
"""
import bisect
import re
from dataclasses import dataclass

from ..errors import ConfigurationError

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*")
_WORD = re.compile(r"\s+")
# A chunk cut at a paragraph break must be at least this full; else we prefer a fuller chunk.
_MIN_FILL_PARAGRAPH = 0.5
_MIN_FILL_SENTENCE = 0.3


@dataclass(frozen=True)
class Piece:
    """A chunk's text and its [start, end) character offsets in the document."""

    text: str
    start: int
    end: int


@dataclass
class Chunk:
    """A piece of an indexed document, as the engine keeps it."""

    id: int          # its vector's id in the index, never reused
    doc_id: str
    number: int      # 1-based position in its document
    text: str
    start: int
    end: int

    @property
    def label(self) -> str:
        return f"{self.doc_id}:chunk{self.number}"


def check_sizes(chunk_size, chunk_overlap):
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 50:
        raise ConfigurationError(f"chunk_size must be an integer of at least 50 characters, got {chunk_size!r}.")
    if (not isinstance(chunk_overlap, int) or isinstance(chunk_overlap, bool)
            or not 0 <= chunk_overlap < chunk_size):
        raise ConfigurationError(
            f"chunk_overlap must be an integer from 0 to chunk_size - 1 ({chunk_size - 1}), got {chunk_overlap!r}.")


def _starts(pattern, text):
    """Positions where a new unit starts (just after each separator match)."""
    return [m.end() for m in pattern.finditer(text) if m.end() < len(text)]


def _last_in(positions, low, high):
    """The largest position p with low < p <= high, else None."""
    i = bisect.bisect_right(positions, high) - 1
    return positions[i] if i >= 0 and positions[i] > low else None


def _first_in(positions, low, high):
    """The smallest position p with low <= p < high, else None."""
    i = bisect.bisect_left(positions, low)
    return positions[i] if i < len(positions) and positions[i] < high else None


def _skip_space(text, i):
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def split_text(text, chunk_size=1000, chunk_overlap=200):
    """Return the chunks of `text` as `Piece`s (stripped; offsets point into `text`)."""
    check_sizes(chunk_size, chunk_overlap)
    paragraphs = _starts(_PARAGRAPH, text)
    sentences = sorted(set(_starts(_SENTENCE, text)) | set(paragraphs))
    words = _starts(_WORD, text)
    end_of_text = len(text.rstrip())
    start = len(text) - len(text.lstrip())
    pieces, prev_end = [], 0
    while start < end_of_text:
        limit = start + chunk_size
        if limit >= end_of_text:
            end = end_of_text
        else:
            # Never end at or before the previous chunk's end: each chunk must add new text.
            floor = _skip_space(text, max(start, prev_end))
            end = (_last_in(paragraphs, max(floor, start + int(chunk_size * _MIN_FILL_PARAGRAPH)), limit)
                   or _last_in(sentences, max(floor, start + int(chunk_size * _MIN_FILL_SENTENCE)), limit)
                   or _last_in(words, floor, limit)
                   or limit)
        body = text[start:end].rstrip()
        pieces.append(Piece(body, start, start + len(body)))
        prev_end = start + len(body)
        if end >= end_of_text:
            break
        resume = _skip_space(text, prev_end)
        nxt = resume
        if chunk_overlap:
            low = max(prev_end - chunk_overlap, start + 1)
            nxt = _skip_space(text, _first_in(sentences, low, prev_end) or _first_in(words, low, prev_end)
                              or resume)
        # The overlap must leave room for new text after `resume` (long runs of spaces).
        start = nxt if nxt + chunk_size > resume else resume
    return pieces


def sentence_bounds(text):
    """Offsets where the sentences (and lines) of `text` start, between 0 and len(text)."""
    return [0] + _starts(_SENTENCE, text) + [len(text)]


def split_sentences(text):
    """Sentences (and lines) of `text`, for sentence-level re-ranking."""
    bounds = sentence_bounds(text)
    out = [text[a:b].strip() for a, b in zip(bounds, bounds[1:])]
    return [s for s in out if s]
