"""Answer metrics: exact match, numeric match for fact micromodels, ROUGE-L otherwise."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w%.]+", " ", text.lower())).strip(" .")


def exact_match(prediction: str, reference: str) -> float:
    return float(_normalize(prediction) == _normalize(reference))


def numeric_match(prediction: str, reference: str) -> float:
    """1 when every number in the reference appears in the prediction (e.g. '25.5' in '25.5%')."""
    wanted = {n.replace(",", ".") for n in _NUMBER.findall(reference)}
    found = {n.replace(",", ".") for n in _NUMBER.findall(prediction)}
    return float(bool(wanted) and wanted <= found)


def rouge_l(prediction: str, reference: str) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(scorer.score(reference, prediction)["rougeL"].fmeasure)


METRICS = {"exact": exact_match, "numeric": numeric_match, "rouge": rouge_l}


def answer_metric(kind: str, predictions: Sequence[str], references: Sequence[str]) -> float:
    score = METRICS[kind]
    pairs = list(zip(predictions, references, strict=True))
    return sum(score(p, r) for p, r in pairs) / len(pairs) if pairs else 0.0
