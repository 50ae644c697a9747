"""Retrieval that covers each thing a question sets side by side.

"Which was larger, Apple's net income or NVIDIA's?" searched as one question finds the chunks
closest to the whole of it, and those may all come from one side: every top hit was NVIDIA's,
and the answer said it had found nothing about Apple. Where one side is named by none of the
hits, that side is searched on its own (the question without the other side's name), and its
closest chunks that name it join the hits. English sides only (`core.questions.sides`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from microfleet.core.hits import SearchHit
from microfleet.core.questions import names, sides

SIDE_HITS = 3  # chunks added for a side that no hit named
_ASIDE = re.compile(r"\s*\([^()]*\)")  # a glossary's long form: "ECB (European Central Bank)"
_WORD = re.compile(r"[^\W_][\w'-]*")
# Words that ask for a comparison where no "or" or "and" sets two things side by side.
_COMPARES = re.compile(
    r"\b(?:compar\w*|than|versus|vs|differ\w*|relative to|against)\b", re.IGNORECASE
)
_ACRONYM = re.compile(r"\b[A-Z]{3,}\b(?!\s*\()")  # "NVIDIA", not "EPS (earnings ...)"
_DANGLING = re.compile(r"\s+(?:or|and|vs\.?|versus)(?=\s*(?:[?.!,;:]|$))", re.IGNORECASE)


def covering(
    question: str, hits: list[SearchHit], find: Callable[[str], list[SearchHit]]
) -> list[SearchHit]:
    """`hits`, with up to SIDE_HITS chunks from `find(query)` for each thing `question`
    compares that none of them names; `find` searches as the caller does (its scope, depth,
    floor)."""
    heads = compared(question)
    out = list(hits)
    for index, side in enumerate(heads):
        if any(names_all(side, hit) for hit in out):
            continue
        others = [w for j, words in enumerate(heads) if j != index for w in words]
        seen = {hit.chunk_id for hit in out}
        found = find(without(question, others))
        out += [h for h in found if h.chunk_id not in seen and names_all(side, h)][:SIDE_HITS]
    return out


def side_heads(question: str) -> list[list[str]]:
    """The words naming each of the two sides of `question` ([] where it sets none side by
    side); a parenthesis (a glossary's long form) is left out of the reading."""
    asked = sides(without_asides(question))
    heads = [head(side, left) for side, left in zip(asked, (True, False), strict=False)]
    return heads if len(heads) == 2 and all(heads) else []


def compared(question: str) -> list[list[str]]:
    """What `question` compares: its two sides, or else, where it asks for a comparison
    ("How did NVIDIA's net income compare with Apple's?", "higher than"), the names it uses,
    when there are two or more; [] otherwise."""
    heads = side_heads(question)
    if heads or not _COMPARES.search(question):
        return heads
    plain = without_asides(question)
    found = [name.split() for name in names(plain)]
    found += [[w] for w in _ACRONYM.findall(question) if not any(w in n for n in found)]
    found = [[w for w in name if w not in ("of", "the")] for name in found]
    found.sort(key=lambda name: question.find(name[0]))  # in the question's order
    return found if len(found) >= 2 else []


def without_asides(question: str) -> str:
    """`question` without its parentheses: "R&D (research and development) or capex" sets
    R&D beside capex, not research beside development."""
    return _ASIDE.sub("", question)


def head(side: str, left: bool) -> list[str]:
    """The words that name a side: its capitalised words ("Union Pacific" of "Union Pacific's
    freight"), else the word next to the join ("gold" of "gold or copper")."""
    words = [w.removesuffix("'s") for w in _WORD.findall(side.replace("\u2019", "'"))]
    capitalised = [w for w in words if w[0].isupper() and len(w) > 1]
    if capitalised:
        return capitalised
    return words[-1:] if left else words[:1]


def names_all(words: Sequence[str], hit: SearchHit) -> bool:
    return says_all(words, f"{hit.title} {hit.text}")


def says_all(words: Sequence[str], text: str) -> bool:
    return all(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in words)


def without(question: str, words: Sequence[str]) -> str:
    """`question` with `words` (and their possessive) taken out: the other side's search."""
    for word in words:
        question = re.sub(rf"\b{re.escape(word)}(?:'s|\u2019s)?(?!\w)", "", question)
    question = _DANGLING.sub("", question)  # "... net income or ?" -> "... net income?"
    return re.sub(r"\s+(?=[?.!,;:])", "", " ".join(question.split()))
