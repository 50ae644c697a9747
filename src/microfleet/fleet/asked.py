"""What a question asks of a set of typed results, read from English words alone: the ends
of a comparison ("lowest", "higher", "most"), statistics ("average", "median", "difference",
"how much higher"), bounds ("above 22%", "at least 20", "lower than France", "the same rate as
Germany", "between 19 and 21", a bare "21%"), "how many", how many to name ("the three
highest"), a place ("the second lowest") and the order of a ranking ("highest first").
Nothing here knows a domain: the labels are the calls' argument values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from microfleet.core.questions import HIGH_WORDS, LOW_WORDS, STAT_WORDS

COMPUTED = ("mean", "median", "difference")  # the statistics the composer works out
NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7}
ORDINALS |= {"eighth": 8, "ninth": 9, "tenth": 10}
_NUM = r"[-+]?\d[\d,]*(?:\.\d+)?"
_UNIT = r"\s*(?:%|percent\b|per cent\b|percentage points?\b)?"
_THAN = r"(?:\s+[a-z']+){0,3}?\s+than"  # "lower than", "a lower VAT rate than"
_ABOVE = rf"above|over|exceeding|exceeds|in excess of|(?:more|higher|greater|larger|bigger){_THAN}"
_BELOW = rf"below|under|beneath|(?:less|lower|smaller|cheaper|fewer){_THAN}"
_PREFIX = {
    ">": _ABOVE,
    ">=": r"at least|no less than|not less than|no lower than",
    "<": _BELOW,
    "<=": r"at most|no more than|not more than|no higher than|up to",
    "=": r"exactly|equal to|(?:the )?same(?:\s+[a-z']+){0,3}?\s+as",
}
_AGAINST_STAT = re.compile(
    rf"\b(?:{_ABOVE}|{_BELOW})\s+(?:the\s+)?(?:[a-z]+\s+){{0,2}}?(average|mean|median)\b"
)
_POSTFIX = {">=": r"or (?:more|higher|above|greater)", "<=": r"or (?:less|lower|below|fewer)"}
_BETWEEN = re.compile(rf"\bbetween\s+({_NUM}){_UNIT}\s+and\s+({_NUM}){_UNIT}")
_DESCENDING = re.compile(
    r"\b(?:highest|largest|most|biggest|greatest|top) first\b|\bdescending\b|\bhigh to low\b"
    r"|\bfrom (?:the )?(?:highest|largest|most|biggest|greatest) to\b"
)
_HOW_MANY = re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b")
_HOW_MUCH = re.compile(  # "how much higher", "by how much", "how many points lower": the gap
    r"\bby how (?:much|many)\b|\bhow (?:much|many (?:percentage )?points?)\s+"
    r"(?:higher|lower|more|less|bigger|smaller|greater|larger|cheaper|dearer)\b"
)
_AT = re.compile(  # "charge 21% VAT", "a 25 percent rate": that value, when nothing bounds it
    rf"(?<![\w.])(?<!by )({_NUM})\s*(?:%|percent\b|per cent\b)"
    r"(?!\s*(?:points?|higher|lower|more|less|above|below|over|under)\b)"
)
_COUNTED = r"(\d+|" + "|".join(NUMBER_WORDS) + r")"
_SUPERLATIVE = r"(?:lowest|highest|cheapest|largest|smallest|biggest|most|least|greatest|priciest)"
_TOP_N = re.compile(
    rf"\b(?:top|bottom)\s+{_COUNTED}\b"  # "top 5"; "the three ... lowest", not "of the 27 ..."
    rf"|(?<!of the )(?<!of )\b{_COUNTED}\s+(?:[a-z-]+\s+){{0,4}}?{_SUPERLATIVE}\b"
)

_RANK = re.compile(  # "the second highest", "3rd-lowest", "the fifth most"
    rf"\b({'|'.join(ORDINALS)}|\d+(?:st|nd|rd|th))[\s-]+{_SUPERLATIVE}\b"
)


@dataclass(frozen=True)
class Bound:
    """Results whose value satisfies `op` against a number, or against a label's value."""

    op: str  # ">", ">=", "<", "<=", "=", or "between" (inclusive, `value` to `upper`)
    value: float | str
    upper: float | None = None


@dataclass
class Asked:
    ends: list[str] = field(default_factory=list)  # "low", "high", in the order asked
    stats: list[str] = field(default_factory=list)  # "mean", "median", "difference"
    bounds: list[Bound] = field(default_factory=list)
    count: bool = False  # "how many"
    top: int | None = None  # "the three lowest": how many to name at each end asked
    rank: int | None = None  # "the second lowest": the place asked for at each end
    descending: bool = False  # "highest first"
    named: list[str] = field(default_factory=list)  # the labels the question names
    others: bool = False  # "other countries", "the rest": the named ones against the others


def read_question(question: str, labels: Sequence[str] = ()) -> Asked:
    """What `question` asks of results about `labels`. A bound that names a label ("lower
    than France") counts only over three or more results: over two it is the comparison."""
    text = " " + question.lower() + " "
    asked = Asked(count=bool(_HOW_MANY.search(text)), descending=bool(_DESCENDING.search(text)))
    asked.others = bool(re.search(r"\b(?:others?|rest|remaining)\b", text))
    asked.named = [label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", text)]
    text = _read_bounds(text, asked, [] if len(labels) <= 2 else list(labels))
    if _HOW_MUCH.search(text):
        asked.stats.append("difference")
    for word in re.findall(r"[a-z]+", text):
        end = "low" if word in LOW_WORDS else "high" if word in HIGH_WORDS else None
        if end and end not in asked.ends:
            asked.ends.append(end)
        stat = STAT_WORDS.get(word)
        if stat in COMPUTED and stat not in asked.stats:
            asked.stats.append(stat)
    if asked.ends and (top := _TOP_N.search(text)):
        counted = top.group(1) or top.group(2)
        asked.top = NUMBER_WORDS.get(counted) or int(counted)
    if asked.ends and (rank := _RANK.search(text)):
        place = rank.group(1)
        asked.rank = ORDINALS.get(place) or int(place[:-2])
    return asked


def _read_bounds(text: str, asked: Asked, labels: list[str]) -> str:
    """Adds each bound found to `asked`; returns the text without them, so that the
    "more" of "more than 20" is not read as asking for the highest. "Higher than the
    average" keeps only its statistic."""
    text = _AGAINST_STAT.sub(r" \1 ", text)
    for match in _BETWEEN.finditer(text):
        low, high = sorted((_number(match.group(1)), _number(match.group(2))))
        asked.bounds.append(Bound("between", low, high))
    text = _BETWEEN.sub(" ", text)
    by_name = {label.lower(): label for label in labels}
    names = "|".join(re.escape(name) for name in sorted(by_name, key=len, reverse=True))
    for op, words in _PREFIX.items():
        pattern = re.compile(rf"\b(?:{words})\s+(?:that of\s+|those of\s+|in\s+)?({_NUM}){_UNIT}")
        asked.bounds += [Bound(op, _number(m.group(1))) for m in pattern.finditer(text)]
        text = pattern.sub(" ", text)
        if names:
            named = re.compile(
                rf"\b(?:{words})\s+(?:that of\s+|that in\s+|in\s+|the one in\s+)?"
                rf"({names})\b(?:'s)?"
            )
            asked.bounds += [Bound(op, by_name[m.group(1)]) for m in named.finditer(text)]
            text = named.sub(" ", text)
    for op, words in _POSTFIX.items():
        pattern = re.compile(rf"({_NUM}){_UNIT}\s+{words}\b")
        asked.bounds += [Bound(op, _number(m.group(1))) for m in pattern.finditer(text)]
        text = pattern.sub(" ", text)
    asked.bounds += [Bound("=", _number(m.group(1))) for m in _AT.finditer(text)]
    return _AT.sub(" ", text)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def vocabulary() -> frozenset[str]:
    """Every word this module reads a question by: what the orchestrator answers from typed
    results without a model ("second", "cheaper", "median", "how many")."""
    sources = [_ABOVE, _BELOW, *_PREFIX.values(), *_POSTFIX.values(), _AGAINST_STAT.pattern]
    sources += [_DESCENDING.pattern, _HOW_MANY.pattern, _HOW_MUCH.pattern, _SUPERLATIVE]
    sources += [_TOP_N.pattern, "between"]
    words = {w for source in sources for w in re.findall(r"[a-z]{2,}", source)}
    words |= set(NUMBER_WORDS) | set(ORDINALS) | set(COMPUTED) | set(STAT_WORDS)
    words |= {"rank", "ranking", "order", "sort", "list", "compare", "comparison"}  # in order
    return frozenset(words | LOW_WORDS | HIGH_WORDS)
