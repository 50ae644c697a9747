"""What the composer reads: the micromodels' results laid out compactly for a small model,
with an aggregation over typed results, so that "which is lowest", "which of the two" and
"rank them" are read off, not worked out. Typed results are ordered by their numeric field;
when the question asks for an extreme (a comparison word: lowest, cheaper, most, ...), the
answer to it leads the facts. Nothing here knows a domain: it reads the fields of each
micromodel's `returns` schema, the arguments of each call, and English comparison words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

COMPOSE_PROMPT = (
    "You are {description} Answer the user's question in one or two sentences, using only the "
    "facts below, which are correct. When they start with an answer, give that answer first. "
    "Keep their figures exactly, cite sources like [1], and say plainly which parts are "
    "missing when a fact is missing."
)
# Words that ask for the low or the high end of a comparison.
LOW_WORDS = frozenset(
    {"lowest", "lower", "least", "less", "smallest", "smaller", "cheapest", "cheaper", "cheap"}
    | {"minimum", "fewest", "fewer", "bottom"}
)
HIGH_WORDS = frozenset(
    {"highest", "higher", "most", "more", "largest", "larger", "biggest", "bigger", "greatest"}
    | {"greater", "maximum", "top", "expensive", "dearest", "priciest"}
)


@dataclass
class Fact:
    """One call's result, as the composer sees it."""

    label: str  # what the call was about: its argument values
    micromodel: str
    sentence: str | None  # None: the call failed
    data: dict[str, Any] | None
    numeric: list[str]  # the numeric fields of the micromodel's `returns` schema
    cites: str = ""
    error: str | None = None


def numeric_fields(returns: dict[str, Any] | None) -> list[str]:
    properties = (returns or {}).get("properties", {})
    return [k for k, v in properties.items() if v.get("type") in ("number", "integer")]


def asked_extremes(question: str) -> list[str]:
    """Which ends of a comparison the question asks for, in the order it asks: "low", "high"."""
    found: list[str] = []
    for word in re.findall(r"[a-z]+", question.lower()):
        end = "low" if word in LOW_WORDS else "high" if word in HIGH_WORDS else None
        if end and end not in found:
            found.append(end)
    return found


def facts_block(facts: Sequence[Fact], question: str = "", extremes: bool = True) -> str:
    """The answers to the extremes the question asks for, then each micromodel's facts,
    ordered by their first numeric field when they have one, with its lowest and highest."""
    leads, lines = _leads(facts, question), []
    for name in dict.fromkeys(f.micromodel for f in facts):
        lines += _group_lines([f for f in facts if f.micromodel == name], extremes)
    return "\n".join(leads + lines)


def _leads(facts: Sequence[Fact], question: str) -> list[str]:
    ends, leads = asked_extremes(question), []
    for name in dict.fromkeys(f.micromodel for f in facts):
        leads += _answers([f for f in facts if f.micromodel == name], ends)
    return leads


def _answers(group: list[Fact], ends: list[str]) -> list[str]:
    """ "<subject> has the lowest <field> (<value>)." for each end asked, over a typed group."""
    fields = group[0].numeric
    valued = _valued(group, fields[0]) if fields and ends else []
    if len(valued) < 2:
        return []
    if min(valued)[0] == max(valued)[0]:
        labels = " and ".join(label for _, label in sorted(valued))
        return [f"{labels} have the same {fields[0]} ({_shown(valued[0][0])})."]
    lines = []
    for end in ends:
        value = min(valued)[0] if end == "low" else max(valued)[0]
        named = _at(valued, value)
        word = ("lower" if end == "low" else "higher") if len(valued) == 2 else f"{end}est"
        verb = "has" if len(named) == 1 else "have"
        lines.append(f"{' and '.join(named)} {verb} the {word} {fields[0]} ({_shown(value)}).")
    return lines


def aggregate_answer(question: str, facts: Sequence[Fact]) -> str | None:
    """The whole answer, when every result is typed and present: the extremes the question
    asks for, then the results in order. None: a model must compose (prose results, or a
    missing part)."""
    if not facts or any(f.sentence is None or f.data is None for f in facts):
        return None
    if len(facts) == 1:
        return f"{facts[0].sentence}{facts[0].cites}"
    leads = _leads(facts, question)
    if not leads:
        return facts_block(facts)
    return "\n".join(leads) + "\n\n" + facts_block(facts, extremes=False)


def _group_lines(group: list[Fact], extremes: bool) -> list[str]:
    ok = [f for f in group if f.sentence is not None]
    missing = [f"- {f.label}: missing ({f.error})" for f in group if f.sentence is None]
    fields = group[0].numeric
    ranked = [f for f in ok if f.data and _number(f.data, fields[0]) is not None] if fields else []
    if len(ranked) < 2:
        return [f"- {f.sentence}{f.cites}" for f in ok] + missing
    field = fields[0]
    ranked.sort(key=lambda f: (_number(f.data, field) or 0.0, f.label))
    rest = [f for f in ok if f not in ranked]
    lines = [f"Ordered by {field}, lowest first:"]
    lines += [f"{i}. {f.sentence}{f.cites}" for i, f in enumerate(ranked, 1)]
    lines += [f"- {f.sentence}{f.cites}" for f in rest] + missing
    for name in fields if extremes else []:
        lines += _extremes(ok, name)
    return lines


def _extremes(facts: list[Fact], field: str) -> list[str]:
    valued = _valued(facts, field)
    if len(valued) < 2:
        return []
    low, high = min(valued)[0], max(valued)[0]
    lows, highs = " and ".join(_at(valued, low)), " and ".join(_at(valued, high))
    return [
        f"Lowest {field}: {lows} ({_shown(low)}).",
        f"Highest {field}: {highs} ({_shown(high)}).",
    ]


def _valued(facts: Sequence[Fact], field: str) -> list[tuple[float, str]]:
    """(value, label) of each fact that has a number in `field`."""
    return [(v, f.label) for f in facts if (v := _number(f.data, field)) is not None]


def _at(valued: list[tuple[float, str]], value: float) -> list[str]:
    """The labels that have `value`, in order."""
    return [label for v, label in sorted(valued) if v == value]


def _number(data: dict[str, Any] | None, field: str) -> float | None:
    value = (data or {}).get(field)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _shown(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def compose_user_message(question: str, facts: Sequence[Fact]) -> str:
    return f"Facts:\n{facts_block(facts, question)}\n\nQuestion: {question}"
