"""An extractive reader: the sentences of the retrieved chunks that answer a question.

A small base model asked to answer from its context copies a figure and invents the rest
("Halcyon Bank set aside 800 million euros for loan losses, a 13.3% increase from the
previous day"). Where no specialist answers, the sources' own sentences are the answer: each
sentence is scored by its MiniLM similarity to the question (embedded with its chunk's title,
as chunks are) plus the share of the question's BM25 terms it holds, weighted by how few of
the candidate sentences hold them (so "core" counts for more than "inflation" in an article
about inflation). The best sentence is kept, and up to `most - 1` more that score nearly as
well; they are returned in reading order, each with the hit it came from. A table (filings are
mostly tables) is read row by row: each row is a candidate, scored with its table's caption
and headers, and quoted with its values named by their column headers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from sentencex import segment

from microfleet.core.hits import SearchHit
from microfleet.core.questions import (
    asks_amount,
    asks_change,
    asks_percentage,
    asks_reason,
    has_figure,
    has_level,
    has_percentage,
    names,
    sides,
)
from microfleet.documents.tables import Table, split_tables
from microfleet.fleet.rows import row_sentence, verdict
from microfleet.knowledge.embedding import Embedder
from microfleet.knowledge.sides import compared, says_all, without_asides
from microfleet.knowledge.sparse import Bm25Encoder

# Chosen on fleets/finance/eval/news_answers.jsonl (README: "Answers from sources").
LEXICAL_WEIGHT = 0.3  # the BM25-term share's weight next to the cosine
WITHIN = 0.9  # another sentence is kept when it scores this share of the best
MOST = 2  # sentences in an answer
FLOOR = 0.4  # below this cosine, no sentence answers the question: None
SHORTEST = 4  # words: a heading or "Silver also rallied." alone answers nothing
CONTEXT_CHARS = 240  # of the line above a table, read as its caption
LEAD = 0.03  # added for a document's first sentence, which says what it is about
FIGURES_WITHIN = 0.8  # a question that asks for a figure quotes one scoring this share of the best
NO_FIGURE_WITHIN = 0.75  # ... or this share, where the best states no figure at all
LABEL = 0.05  # added for a table row whose label the question spells out


@dataclass(frozen=True)
class Quote:
    text: str
    hit: int  # the index of the hit it comes from


@dataclass(frozen=True)
class Reading:
    """An answer quoted from its sources: the sentences, and the hits they come from."""

    text: str
    hits: list[SearchHit]


@dataclass(frozen=True)
class _Candidate:
    text: str  # as quoted
    hit: int
    terms: frozenset[int]
    lead: bool  # the document's first sentence
    scored: str = ""  # as scored, where it differs (a row with its table's caption and headers)
    label: str = ""  # a row's label, its words lower-cased and spaced (" net income ")

    @property
    def row(self) -> bool:
        return bool(self.scored)


class SentenceReader:
    def __init__(self, embedder: Embedder, sparse: Bm25Encoder, language: str = "en") -> None:
        self.embedder, self.sparse, self.language = embedder, sparse, language

    def answer(
        self,
        question: str,
        hits: Sequence[SearchHit],
        vector: Sequence[float] | None = None,
        focus: str | None = None,
        own_words: bool = False,
    ) -> Reading | None:
        """The quoted sentences as one answer, with only the hits they quote."""
        quotes = self.read(question, hits, vector, focus, own_words)
        if not quotes:
            return None
        used = list(dict.fromkeys(quote.hit for quote in quotes))
        return Reading(" ".join(quote.text for quote in quotes), [hits[i] for i in used])

    def read(
        self,
        question: str,
        hits: Sequence[SearchHit],
        vector: Sequence[float] | None = None,
        focus: str | None = None,
        own_words: bool = False,
    ) -> list[Quote] | None:
        """The sentences of `hits` that answer `question`, in reading order; None when none
        comes close enough (the caller answers another way). `focus`: what they must answer
        where it is not the whole question (a follow-up's own words, joined to the questions
        it leans on: "How big is its buyback?"): sentences are ranked by it, and the whole
        question decides whether any comes close enough. With `own_words`, only sentences
        that hold one of the focus's own words are quoted."""
        candidates = self._candidates(hits)
        if not candidates:
            return None
        query = np.asarray(
            vector if vector is not None else self.embedder.embed([question])[0], dtype=float
        )
        titled = [f"{hits[c.hit].title}: {c.scored or c.text}" for c in candidates]
        embedded = self.embedder.embed(titled)
        cosines = embedded @ query
        ranked = cosines if focus is None else embedded @ self.embedder.embed([focus])[0]
        scores = ranked + LEXICAL_WEIGHT * self._lexical(focus or question, candidates)
        scores += LEAD * np.array([c.lead for c in candidates])
        scores += LABEL * self._named_rows(focus or question, candidates)
        if own_words:
            scores = self._holding(focus or question, candidates, scores)
        if asks_amount(focus or question):
            scores = _figures_first(focus or question, scores, candidates)
        elif asks_reason(focus or question):
            scores = _prose_first(scores, candidates)
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        bar = WITHIN * scores[order[0]]
        kept = [order[0]] + [i for i in order[1:MOST] if scores[i] >= bar]
        if float(cosines.max()) < FLOOR or not np.isfinite(scores[order[0]]):
            kept = []
        heads = compared(question)
        kept = self._each_side(question, heads, candidates, scores, hits, kept)
        if not kept:
            return None
        named = self._named_rows(question, candidates)
        return _side_by_side(heads, candidates, hits, sorted(set(kept)), scores, named)

    def _each_side(
        self,
        question: str,
        heads: list[list[str]],
        candidates: list[_Candidate],
        scores: np.ndarray,
        hits: Sequence[SearchHit],
        kept: list[int],
    ) -> list[int]:
        """`kept`, with a sentence for each thing the question compares (`heads`: side by side,
        "gold or copper", or by name, "NVIDIA's net income against Apple's") that no kept sentence
        names: the best one that names it from a source about it (its title names it too), or
        else one from a document its title names. With nothing kept (no sentence came close
        enough), the sides answer only when each has one: the question names its sources."""
        if not heads:  # most questions: no titles to read
            return kept
        sided = sides(without_asides(question))
        asked = sided if len(sided) == len(heads) else [" ".join(words) for words in heads]
        picks = []
        titles = [frozenset(self.sparse.embed_query(hit.title).indices) for hit in hits]
        for side, words in zip(asked, heads, strict=True):
            term = self._rarest(side, candidates)
            about = [
                i for i, c in enumerate(candidates) if term in c.terms and term in titles[c.hit]
            ]
            if about and not any(term in candidates[i].terms for i in kept):
                picks.append(max(about, key=lambda i: float(scores[i])))
            elif not about and (own := _from_its_own(words, candidates, hits, kept)):
                picks.append(max(own, key=lambda i: float(scores[i])))  # a row of its filing
            elif not about and not kept:
                return []
        return kept + picks

    def _holding(self, words: str, candidates: list[_Candidate], scores: np.ndarray) -> np.ndarray:
        """`scores`, with the candidates that hold none of `words`' BM25 terms left out."""
        asked = frozenset(self.sparse.embed_query(words).indices)
        return np.where([bool(c.terms & asked) for c in candidates], scores, -np.inf)

    @staticmethod
    def _named_rows(question: str, candidates: list[_Candidate]) -> np.ndarray:
        """1 for each table row whose label the question spells out, word for word and in
        order ("Net income" in "Which company earned more net income?", not "Other income,
        net"), else 0."""
        asked = _spaced(question)
        return np.array([c.label.strip() != "" and c.label in asked for c in candidates], float)

    def _rarest(self, text: str, candidates: list[_Candidate]) -> int | None:
        """The BM25 term of `text` that the fewest candidates hold (at least one): what names
        a side ("copper" of "copper rise more")."""
        held = {
            term: count
            for term in self.sparse.embed_query(text).indices
            if (count := sum(term in c.terms for c in candidates))
        }
        return min(held, key=held.__getitem__) if held else None

    def _candidates(self, hits: Sequence[SearchHit]) -> list[_Candidate]:
        """Each sentence and table row of `hits`, once: chunks overlap, and a sentence in two
        of them was quoted twice ("Income tax expense was $4.8 billion ... Income tax expense
        was $4.8 billion ...")."""
        once: dict[str, _Candidate] = {}
        for candidate in self._all_candidates(hits):
            once.setdefault(candidate.text, candidate)
        return list(once.values())

    def _all_candidates(self, hits: Sequence[SearchHit]) -> list[_Candidate]:
        found: list[_Candidate] = []
        for index, hit in enumerate(hits):
            opens, above = hit.payload.get("chunk_index") == 0, ""
            for block in split_tables(hit.text):
                if isinstance(block, Table):  # the line above says what a bare table holds
                    found += self._rows(block, block.context or above, index)
                    continue
                above = block.strip().split("\n")[-1][:CONTEXT_CHARS]
                for sentence in self._sentences(block):
                    text = " ".join(sentence.split())
                    if len(text.split()) >= SHORTEST:
                        terms = frozenset(self.sparse.embed_query(text).indices)
                        found.append(_Candidate(text, index, terms, opens and not found))
        return found

    def _sentences(self, block: str) -> list[str]:
        """The block's sentences; a Markdown heading is none, and ends the text before it
        (sentence splitting read "## Notes by country\nAustria charges 20%." as one)."""
        parts = _HEADING.split(block)
        return [sentence for part in parts for sentence in segment(self.language, part)]

    def _rows(self, table: Table, context: str, index: int) -> list[_Candidate]:
        rows = []
        headers = " ".join(chain.from_iterable(table.headers))
        for row in table.rows:
            quoted = row_sentence(table, row, context)
            if quoted is not None:
                scored = f"{context} {headers} {quoted}"
                terms = frozenset(self.sparse.embed_query(scored).indices)
                label = _spaced(without_asides(row[0]))
                rows.append(_Candidate(quoted, index, terms, False, scored, label))
        return rows

    def _lexical(self, question: str, candidates: list[_Candidate]) -> np.ndarray:
        asked = set(self.sparse.embed_query(question).indices)
        count = len(candidates)
        weight = {
            t: math.log(1 + count / (1 + sum(t in c.terms for c in candidates))) for t in asked
        }
        total = sum(weight.values()) or 1.0
        return np.array([sum(weight[t] for t in asked & c.terms) / total for c in candidates])


def _from_its_own(
    words: list[str], candidates: list[_Candidate], hits: Sequence[SearchHit], kept: list[int]
) -> list[int]:
    """The candidates from documents whose title names a side that is named by its words
    ("Apple" of "Apple's net income": a row of Apple's own filing never says "Apple"), where
    no kept candidate comes from one; [] for a side named by no capitalised word. Where a kept
    candidate states a figure, those that state one."""
    if not any(w[0].isupper() for w in words):
        return []
    own = [i for i, c in enumerate(candidates) if says_all(words, hits[c.hit].title)]
    if any(i in own for i in kept):
        return []
    if any(has_figure(candidates[i].text) for i in kept):  # the other side's figure: one too
        return [i for i in own if has_figure(candidates[i].text)] or own
    return own


def _side_by_side(
    heads: list[list[str]],
    candidates: list[_Candidate],
    hits: Sequence[SearchHit],
    kept: list[int],
    scores: np.ndarray,
    named: np.ndarray,
) -> list[Quote]:
    """The quotes of `kept` (in reading order), for a comparison each side's in turn, in the
    question's order. A quote that does not name its side, from a document whose title does
    (a row of Apple's filing), is led by the side's name: "Apple — Net income: ...", not a
    figure nobody can tell from the other side's. Where each side's best quote is a row whose
    label the question spells out (`named`), and the two can be weighed, the answer opens with
    which is larger (fleet/rows.py)."""
    placed: list[tuple[int, Quote]] = []
    best: dict[int, int] = {}
    for i in kept:
        text = candidates[i].text
        side = next((n for n, words in enumerate(heads) if says_all(words, text)), None)
        title = hits[candidates[i].hit].title
        if side is None and (side := _titled(heads, title)) is not None:
            text = f"{' '.join(heads[side])} — {text}"
        if side is not None and (side not in best or scores[i] > scores[best[side]]):
            best[side] = i
        placed.append((len(heads) if side is None else side, Quote(text, candidates[i].hit)))
    quotes = [quote for _, quote in sorted(placed, key=lambda pair: pair[0])]
    weighed = [(" ".join(heads[n]), candidates[best[n]].text) for n in sorted(best)]
    asked = all(named[i] for i in best.values())
    if quotes and asked and (said := verdict(weighed)) is not None:
        quotes[0] = Quote(f"{said} {quotes[0].text}", quotes[0].hit)
    return quotes


def _titled(heads: list[list[str]], title: str) -> int | None:
    """The one side, named by capitalised words, that `title` names (None: none, or both)."""
    named = [
        n for n, words in enumerate(heads) if words[0][:1].isupper() and says_all(words, title)
    ]
    return named[0] if len(named) == 1 else None


def nothing_on(missing: list[str]) -> str:
    """The answer when the sources found never name what the question asks about."""
    about = " ".join(missing)
    return (
        f"I found nothing in the knowledge base about {about}, so I cannot give a sourced "
        "answer. Add documents about it to the knowledge base and ask again."
    )


def unmentioned(question: str, hits: Sequence[SearchHit]) -> list[str]:
    """The proper names of `question` when none of them is in `hits` (their text, title, id or
    address, whose "pillar-two-minimum-tax" names Pillar Two): "What is the VAT rate in
    Switzerland?" against the EU's VAT table. [] when one is, or the question names nothing."""
    asked = names(question)
    said = " ".join(_SLUG.sub(" ", f"{h.title} {h.text} {h.doc_id} {h.url or ''}") for h in hits)
    said = " ".join(said.split()).lower()
    if any(_named(name.lower(), said) for name in asked):
        return []
    return asked


def _named(name: str, said: str) -> bool:
    """Whether `said` names `name`: as written, or each of its words somewhere ("Federal
    Reserve Chair" in "Chair Jerome Powell ... the Federal Reserve"; not "Swiss National Bank"
    in articles on other national banks)."""
    words = [w for w in name.split() if w not in ("of", "the")]
    return says_all([name], said) or says_all(words, said)


def _figures_first(question: str, scores: np.ndarray, candidates: list[_Candidate]) -> np.ndarray:
    """`scores`, where the question asks for a figure, with the candidates that state none
    of its kind left out, when one that does scores at least FIGURES_WITHIN of the best: "What
    was the effective tax rate?" quotes the table's 16.4%, not "The effective tax rate for the
    third quarter of 2025 was lower than the statutory rate". A question about a level ("How
    much revenue did it earn?") wants more than a change ("increased 4%"); one that asks for a
    percentage wants one. Where the best states no figure at all, it cannot answer, and one
    that does is quoted from NO_FIGURE_WITHIN of it ("How much did Apple pour into R&D?")."""
    if asks_percentage(question):
        states = has_percentage
    elif asks_change(question):
        states = has_figure
    else:
        states = has_level
    best = candidates[int(np.argmax(scores))]
    within = FIGURES_WITHIN if has_figure(best.text) else NO_FIGURE_WITHIN  # it cannot answer
    return _preferred(scores, np.array([states(c.text) for c in candidates]), within)


def _prose_first(scores: np.ndarray, candidates: list[_Candidate]) -> np.ndarray:
    """`scores`, where the question asks why, with the table rows left out when a sentence
    scores at least FIGURES_WITHIN of the best: a row of figures explains nothing."""
    return _preferred(scores, np.array([not c.row for c in candidates]))


def _preferred(scores: np.ndarray, kept: np.ndarray, within: float = FIGURES_WITHIN) -> np.ndarray:
    if not kept.any() or scores[kept].max() < within * scores.max():
        return scores
    return np.where(kept, scores, -np.inf)


_HEADING = re.compile(r"^#{1,6}\s.*$", re.MULTILINE)  # a Markdown heading line
_NOT_WORD = re.compile(r"[\W_]+")


def _spaced(text: str) -> str:
    """`text`'s words, lower-cased, each between spaces: " net income "."""
    return f" {_NOT_WORD.sub(' ', text.lower()).strip()} "


_SLUG = re.compile(r"(?<=\w)[-_/.](?=\w)")  # "pillar-two" -> "pillar two"
