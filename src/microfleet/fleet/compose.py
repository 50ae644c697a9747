"""What the composer reads: the micromodels' results laid out compactly for a small model,
with an aggregation over typed results, so that "which is lowest", "which of the two",
"rank them", "the average", "how many are above 20" are read off, not worked out. Typed
results are ordered by their numeric field; what the question asks of them (fleet/asked.py)
leads the facts. Nothing here knows a domain: it reads the fields of each micromodel's
`returns` schema, the arguments of each call, and English words."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from microfleet.fleet.asked import Asked, Bound, read_question

COMPOSE_PROMPT = (
    "You are {description} Answer the user's question in one or two sentences, using only the "
    "facts below, which are correct. When they start with an answer, give that answer first. "
    "Keep their figures exactly, cite sources like [1], and say plainly which parts are "
    "missing when a fact is missing."
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


def facts_block(facts: Sequence[Fact], question: str = "", extremes: bool = True) -> str:
    """The answers to what the question asks, then each micromodel's facts, ordered by their
    first numeric field when they have one, with its lowest and highest."""
    return "\n".join(_leads(facts, question) + _fact_lines(facts, question, extremes))


def _fact_lines(facts: Sequence[Fact], question: str, extremes: bool) -> list[str]:
    descending, lines = read_question(question).descending, []
    for name in dict.fromkeys(f.micromodel for f in facts):
        lines += _group_lines([f for f in facts if f.micromodel == name], extremes, descending)
    return lines


def _leads(facts: Sequence[Fact], question: str) -> list[str]:
    leads: list[str] = []
    for name in dict.fromkeys(f.micromodel for f in facts):
        group = [f for f in facts if f.micromodel == name]
        fields = group[0].numeric
        if fields:
            asked = read_question(question, [f.label for f in group])
            leads += _answers(_valued(group, fields[0]), fields[0], asked)
    return leads


def _answers(valued: list[tuple[float, str]], field: str, asked: Asked) -> list[str]:
    """What was asked of one micromodel's typed results, each as a sentence."""
    lines = [line for bound in asked.bounds if (line := _bounded(valued, field, bound))]
    if len(valued) < 2:
        return lines
    if min(valued)[0] == max(valued)[0]:
        if asked.ends or "difference" in asked.stats:
            labels = " and ".join(label for _, label in sorted(valued))
            return [f"{labels} have the same {field} ({_shown(valued[0][0])}).", *lines]
        return lines + [_stat(valued, field, s) for s in asked.stats if s != "difference"]
    ends = [
        _placed(valued, field, end, asked.rank)
        if asked.rank
        else _end(valued, field, end, asked.top)
        for end in asked.ends
    ]
    stats = [_stat(valued, field, s) for s in asked.stats]
    answered = ends + stats + _against_stats(valued, field, asked) + lines
    if answered and not asked.ends:
        return answered
    return answered + _positions(valued, field, asked)


def _positions(valued: list[tuple[float, str]], field: str, asked: Asked) -> list[str]:
    """ "Germany's rate (19) is the 3rd lowest of 27 (the average is 21.91).", for each result
    the question names among more, counted from the end it asks for (the low one if none)."""
    mean = _shown(_middle(valued, "mean"))
    end = asked.ends[0] if asked.ends else "low"
    sign = 1 if end == "low" else -1
    lines = []
    for v, label in _named_among(valued, asked):
        place = 1 + sum(sign * other < sign * v for other, _ in valued)
        if place == 1 and asked.ends:
            continue  # the end asked for names it already
        tied = " joint" if sum(other == v for other, _ in valued) > 1 else ""
        lines.append(
            f"{label}'s {field} ({_shown(v)}) is the{tied} {_ordinal(place)} {end}est of "
            f"{len(valued)} (the average is {mean})."
        )
    return lines


def _named_among(valued: list[tuple[float, str]], asked: Asked) -> list[tuple[float, str]]:
    """The results the question names, when it names some of them, not all."""
    named = [(v, label) for v, label in valued if label in asked.named]
    return named if len(named) < len(valued) else []


def _middle(valued: list[tuple[float, str]], stat: str) -> float:
    """The mean or the median of the values, to two decimals."""
    values = [v for v, _ in valued]
    middle = sum(values) / len(values) if stat == "mean" else statistics.median(values)
    return round(middle, 2)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _against_stats(valued: list[tuple[float, str]], field: str, asked: Asked) -> list[str]:
    """ "Germany's rate (19) is below the average (21.91).", for each result the question
    names among more, when it asks for the average or the median."""
    lines = []
    for stat in (s for s in asked.stats if s in ("mean", "median")):
        middle = _middle(valued, stat)
        word = "average" if stat == "mean" else "median"
        for v, label in _named_among(valued, asked):
            side = "above" if v > middle else "below" if v < middle else "at"
            lines.append(
                f"{label}'s {field} ({_shown(v)}) is {side} the {word} ({_shown(middle)})."
            )
    return lines


def _end(valued: list[tuple[float, str]], field: str, end: str, top: int | None) -> str:
    """ "<subject> has the lowest <field> (<value>).", or the `top` lowest, ties included."""
    sign = 1 if end == "low" else -1
    ordered = sorted(valued, key=lambda item: (sign * item[0], item[1]))
    if top and 1 < top < len(valued):
        cut = sign * ordered[top - 1][0]
        named = [f"{label} ({_shown(v)})" for v, label in ordered if sign * v <= cut]
        ties = ", ties included" if len(named) > top else ""
        return f"The {top} {end}est {field}s{ties}: {', '.join(named)}."
    value = ordered[0][0]
    named = _at(valued, value)
    word = ("lower" if end == "low" else "higher") if len(valued) == 2 else f"{end}est"
    verb = "has" if len(named) == 1 else "have"
    return f"{_listed(named)} {verb} the {word} {field} ({_shown(value)})."


def _placed(valued: list[tuple[float, str]], field: str, end: str, rank: int) -> str:
    """ "<subject> has the 2nd highest <field> (<value>).": the result at place `rank` from
    that end, and the places it shares when results tie."""
    if rank > len(valued):
        return f"There is no {_ordinal(rank)} {end}est {field}: there are {len(valued)}."
    sign = 1 if end == "low" else -1
    value = sorted(sign * v for v, _ in valued)[rank - 1] * sign
    named = _at(valued, value)
    place = 1 + sum(sign * v < sign * value for v, _ in valued)
    verb = "has" if len(named) == 1 else "have"
    tied = f", tied at places {place} to {place + len(named) - 1}" if len(named) > 1 else ""
    shown = f"{_ordinal(rank)} {end}est {field} ({_shown(value)})"
    return f"{_listed(named)} {verb} the {shown}{tied}."


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _stat(valued: list[tuple[float, str]], field: str, stat: str) -> str:
    values = sorted(v for v, _ in valued)
    if stat in ("mean", "median"):
        word = "average" if stat == "mean" else "median"
        return f"The {word} {field} over {len(values)} is {_shown(_middle(valued, stat))}."
    low, high = values[0], values[-1]
    gap = _shown(round(high - low, 6))
    if len(values) == 2:
        (_, lower), (_, higher) = sorted(valued)
        versus = f"{_shown(high)} against {_shown(low)}"
        return f"{higher}'s {field} is {gap} above {lower}'s ({versus})."
    lows, highs = " and ".join(_at(valued, low)), " and ".join(_at(valued, high))
    return (
        f"The {field} ranges from {_shown(low)} ({lows}) to {_shown(high)} ({highs}), "
        f"a difference of {gap}."
    )


def _bounded(valued: list[tuple[float, str]], field: str, bound: Bound) -> str | None:
    """ "3 of 27 have a <field> above 22: A (24), B (25), C (27)." """
    if isinstance(bound.value, str):
        named = [v for v, label in valued if label == bound.value]
        if not named:
            return None
        value, shown = named[0], f"{bound.value}'s ({_shown(named[0])})"
        valued = [(v, label) for v, label in valued if label != bound.value]
    else:
        value, shown = bound.value, _shown(bound.value)
    upper = value if bound.upper is None else bound.upper
    tests = {
        ">": (lambda v: v > value, f"above {shown}"),
        ">=": (lambda v: v >= value, f"at least {shown}"),
        "<": (lambda v: v < value, f"below {shown}"),
        "<=": (lambda v: v <= value, f"at most {shown}"),
        "=": (lambda v: v == value, f"equal to {shown}"),
        "between": (lambda v: value <= v <= upper, f"between {shown} and {_shown(upper)}"),
    }
    test, phrase = tests[bound.op]
    if len(valued) == 1:
        ((v, label),) = valued
        return f"{label}'s {field} ({_shown(v)}) is {'' if test(v) else 'not '}{phrase}."
    hits = [f"{label} ({_shown(v)})" for v, label in sorted(valued) if test(v)]
    of = "of " if bound.op in (">=", "<=") else ""
    if not hits:
        return f"None of the {len(valued)} has a {field} {of}{phrase}."
    verb = "has" if len(hits) == 1 else "have"
    return f"{len(hits)} of {len(valued)} {verb} a {field} {of}{phrase}: {', '.join(hits)}."


def aggregate_answer(question: str, facts: Sequence[Fact]) -> str | None:
    """The whole answer when every part is present: each prose result in its own words (it was
    asked the question; a composer would only restate it, and a small one adds errors), then
    what the typed results say (the extremes and statistics the question asks for, then the
    results in order). None: a part is missing, and a model must say so."""
    if not facts or any(f.sentence is None for f in facts):
        return None
    typed = [f for f in facts if f.data is not None]
    prose = _each_once([f for f in facts if f.data is None])
    if not typed:
        return "\n\n".join(prose)
    return "\n\n".join([*prose, _typed_answer(question, typed)])


def _each_once(facts: list[Fact]) -> list[str]:
    """The prose results with their source numbers, each once, less one that another says in
    full (two micromodels quoting the same sentence, one with its disclaimer after it)."""
    said = [f.sentence or "" for f in facts]
    kept = [
        f"{f.sentence}{f.cites}"
        for f in facts
        if not any((f.sentence or "") in other and other != f.sentence for other in said)
    ]
    return list(dict.fromkeys(kept))


def _typed_answer(question: str, facts: list[Fact]) -> str:
    leads = _leads(facts, question)
    if len(facts) == 1:
        return "\n".join([*leads, f"{facts[0].sentence}{facts[0].cites}"])
    if not leads:
        return facts_block(facts, question)
    return "\n".join(leads) + "\n\n" + "\n".join(_fact_lines(facts, question, False))


def whole_sentences(text: str) -> str:
    """`text` without a last sentence cut off by the token limit ("... an ounce.\n2"), when
    it has a whole one before it."""
    text = text.strip()
    ends = [0]  # a sentence has words: the "2." of a list is not one
    for m in re.finditer(r"[.!?](?=\s|$)", text):
        if re.search(r"[^\W\d_]{2}", text[ends[-1] : m.end()]):
            ends.append(m.end())
    return text if ends[-1] in (0, len(text)) else text[: ends[-1]]


def _group_lines(group: list[Fact], extremes: bool, descending: bool = False) -> list[str]:
    ok = [f for f in group if f.sentence is not None]
    missing = [f"- {f.label}: missing ({f.error})" for f in group if f.sentence is None]
    fields = group[0].numeric
    ranked = [f for f in ok if f.data and _number(f.data, fields[0]) is not None] if fields else []
    if len(ranked) < 2:
        return [f"- {f.sentence}{f.cites}" for f in ok] + missing
    field = fields[0]
    sign = -1 if descending else 1
    ranked.sort(key=lambda f: (sign * (_number(f.data, field) or 0.0), f.label))
    rest = [f for f in ok if f not in ranked]
    lines = [f"Ordered by {field}, {'highest' if descending else 'lowest'} first:"]
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
