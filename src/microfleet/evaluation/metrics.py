"""Answer and retrieval metrics. Answers follow SQuAD's normalisation (lower case, no punctuation,
no articles); numbers are compared by value after normalising thousands separators, decimal
commas, percentages ("25%" = "25 percent" = "0.25") and scale words ("1.5 million")."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence

from microfleet.training.metrics import rouge_l as training_rouge_l

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)\s*"
    r"(%|percent\b|per cent\b|pct\b|thousand\b|million\b|mn\b|billion\b|bn\b|trillion\b)?",
    re.I,
)
_SCALE = {"thousand": 1e3, "million": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    return max(
        (float(normalize_answer(prediction) == normalize_answer(r)) for r in references),
        default=0.0,
    )


def token_f1(prediction: str, references: Sequence[str]) -> float:
    return max((_f1(prediction, r) for r in references), default=0.0)


def _f1(prediction: str, reference: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not wanted:
        return float(predicted == wanted)
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def numbers(text: str) -> list[set[float]]:
    """Each number in `text`, as the set of values it may stand for ("25%" -> {25, 0.25})."""
    found = []
    for digits, unit in _NUMBER.findall(text):
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
            value = float(digits.replace(",", ""))
        else:
            value = float(digits.replace(",", "."))  # a decimal comma: "25,5"
        unit = unit.lower()
        if unit in ("%", "percent", "per cent", "pct"):
            found.append({value, value / 100})
        elif unit in _SCALE:
            found.append({value, value * _SCALE[unit]})
        else:
            found.append({value})
    return found


def numeric_match(prediction: str, references: Sequence[str]) -> float | None:
    """1 when every number of a reference is in the prediction; None when no reference has one."""
    predicted = numbers(prediction)
    scored = None
    for reference in references:
        wanted = numbers(reference)
        if not wanted:
            continue
        hit = all(any(_same(w, p) for p in predicted) for w in wanted)
        scored = max(scored or 0.0, float(hit))
    return scored


def _same(a: set[float], b: set[float]) -> bool:
    return any(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) for x in a for y in b)


def rouge_l(prediction: str, references: Sequence[str]) -> float:
    return max((training_rouge_l(prediction, r) for r in references), default=0.0)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def content_tokens(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return [t for t in normalize_answer(text).split() if t not in ENGLISH_STOP_WORDS]


def faithfulness(answer: str, context: str) -> float | None:
    """Share of the answer's content tokens found in the retrieved context (a proxy: a high
    share means the answer stays with its sources); None for an answer with no content."""
    tokens = content_tokens(answer)
    if not tokens:
        return None
    seen = set(normalize_answer(context).split())
    return sum(t in seen for t in tokens) / len(tokens)


def document_ranking(doc_ids: Sequence[str]) -> list[str]:
    """Chunk hits to documents: each document at the rank of its best chunk."""
    return list(dict.fromkeys(doc_ids))


def hit_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return float(any(d in relevant for d in ranked[:k]))


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    for rank, doc in enumerate(ranked[:k], 1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0
