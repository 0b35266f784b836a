"""Text clean-up for spoken coach output: at most N sentences, bounded length."""

from __future__ import annotations

import re

__all__ = ["limit_sentences", "one_sentence"]

_END = re.compile(r"[.!?]+(?=[\"')\]]*(?:\s|$))")
_BULLET = re.compile(r"^(?:[-*\u2022>#]+\s*)+")


def _clean(text: str) -> str:
    text = " ".join(str(text).split())
    text = _BULLET.sub("", text)
    text = text.replace("**", "").replace("__", "")
    return text.strip().strip("\"'\u201c\u201d\u2018\u2019` ").strip()


def limit_sentences(text: str, sentences: int = 1, max_words: int = 30) -> str:
    """The first *sentences* sentences of *text*, at most *max_words* words, ending in punctuation.

    An empty or blank answer gives ``""`` (the caller then uses the offline coach).
    """
    text = _clean(text)
    if not text:
        return ""
    end = 0
    for _ in range(max(1, sentences)):
        match = _END.search(text, end)
        if match is None:
            end = len(text)
            break
        end = match.end()
    text = text[:end].strip()
    words = text.split()
    if len(words) > max_words:
        text = " ".join(words[:max_words]).rstrip(",;:-\u2013\u2014") + "."
    if text and text[-1] not in ".!?":
        text = text.rstrip(",;:-\u2013\u2014") + "."
    return text


def one_sentence(text: str, max_words: int = 30) -> str:
    """At most one sentence (and *max_words* words): anything longer is cut."""
    return limit_sentences(text, 1, max_words)
