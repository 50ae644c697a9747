"""English words that change what a question asks while barely moving its embedding:
"lowest" and "highest" embed at 0.96, "before" and "after" at 0.99, "first quarter" and
"second quarter" at 0.97 (all-MiniLM-L6-v2). The answer cache keeps them in its guard, and
the composer reads comparisons and statistics from them. Nothing here knows a domain."""

from __future__ import annotations

import re
from collections.abc import Iterable

NEGATIONS = frozenset(
    ["not", "no", "never", "none", "nor", "cannot", "without", "neither", "nobody", "nothing"]
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
STAT_WORDS = {
    "average": "mean",
    "mean": "mean",
    "median": "median",
    "difference": "difference",
    "gap": "difference",
    "spread": "difference",
    "range": "difference",
    "total": "total",
    "sum": "total",
}
# Opposites that are not comparisons: each word stands for its side.
_SIDES = {
    "up": "increase increased increases increasing rise rises rose risen rising grow grew grown"
    " growth gain gained gains up above over exceed exceeds exceeding",
    "down": "decrease decreased decreases decreasing fall falls fell fallen falling decline"
    " declined declines drop dropped drops shrink shrank loss losses down below under",
    "before": "before prior earlier previous preceding",
    "after": "after later next following subsequent",
    "buy": "buy buys bought buying purchase purchased",
    "sell": "sell sells sold selling",
}
SIDES = {word: side for side, words in _SIDES.items() for word in words.split()}
# Words that name one of a series: the guard keeps each one as it is.
SERIES = frozenset(
    str.split(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
        " last final one two three four five six seven eight nine ten eleven twelve hundred"
        " thousand million billion trillion half quarter quarterly annual monthly weekly daily"
        " january february march april may june july august september october november december"
        " jan feb mar apr jun jul aug sep sept oct nov dec"
        " monday tuesday wednesday thursday friday saturday sunday"
    )
)
WORD = re.compile(r"[a-z][\w']*|\d+(?:[.,]\d+)*")


def words(question: str) -> list[str]:
    return WORD.findall(question.lower().replace("\u2019", "'"))


def contrast_marks(question: str) -> set[str]:
    """What must match for two questions to ask the same thing: negations ("not"), numbers
    and words with digits, members of a series, the end of a comparison ("low", "high"), a
    side ("up", "down", "before", "after", "buy", "sell") and a statistic ("mean")."""
    marks: set[str] = set()
    for word in words(question):
        if word in NEGATIONS or word.endswith("n't"):
            marks.add("not")
        elif any(c.isdigit() for c in word) or word in SERIES:
            marks.add(word)
        elif word in LOW_WORDS or word in HIGH_WORDS:
            marks.add("low" if word in LOW_WORDS else "high")
        elif mark := SIDES.get(word) or STAT_WORDS.get(word):
            marks.add(mark)
    return marks


_JOINS = frozenset({"and", "or", "vs", "versus"})
_FUNCTION = frozenset(
    str.split(
        "the a an which what who whom whose how why when where whether did does do is are was"
        " were has have had be been will would can could should shall may might must in on of"
        " for to with by at from than that this these those it its their between both either"
        " compare compared comparing about"
    )
)
_SIDE_WORDS = 3  # at most, on each side of the join
_TOKEN = re.compile(r"[^\W_](?:[\w'-]|\.(?=\w))*|[^\w\s]")


def sides(question: str) -> list[str]:
    """What a question sets side by side: "gold or copper", "Northwind and Lumen Cloud", "the
    Fed vs the ECB". Each side is the words next to the first "and", "or", "vs" or "versus",
    up to punctuation, a function word or three words; [] when either side is empty ("which
    cut rates and which held?")."""
    tokens = _TOKEN.findall(question.replace("\u2019", "'"))
    join = next((i for i, t in enumerate(tokens) if t.lower() in _JOINS), None)
    if join is None:
        return []
    left = _side(reversed(tokens[:join]))[::-1]
    right = _side(_skip_articles(tokens[join + 1 :]))
    return [" ".join(left), " ".join(right)] if left and right else []


def _skip_articles(tokens: list[str]) -> list[str]:
    while tokens and tokens[0].lower() in ("the", "a", "an", "of", "."):  # "vs. the ECB", "and of"
        tokens = tokens[1:]
    return tokens


def _side(tokens: Iterable[str]) -> list[str]:
    side: list[str] = []
    for token in tokens:
        if not token[0].isalnum() or token.lower() in _FUNCTION or len(side) == _SIDE_WORDS:
            break
        side.append(token)
    return side


# Questions whose answer is a figure: "how much", "by how much", "what share", and "what"
# questions about a rate, a price, a total... (general English, not one domain's words).
_ASKS_AMOUNT = re.compile(
    r"\bhow (?:much|many|big|large|high|low|fast|far|long)\b"
    r"|\bwhat (?:percent|percentage|share|proportion|fraction|portion)\b"
)
_AMOUNT_NOUNS = frozenset(
    str.split(
        "rate rates price prices cost costs amount amounts total totals number level levels"
        " value values size percentage percentages share ratio figure figures sum count"
    )
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"  # January, Sept.
# What has digits without being a figure: a date's day, a year, a quarter's name ("Q2").
_NOT_FIGURES = re.compile(
    rf"\b{_MONTH} \d{{1,2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}|\b(?:19|20)\d\d\b|\b[qh][1-4]\b",
    re.IGNORECASE,
)


# A period a figure is reported for: a year, or a quarter, half or months of one.
_PERIOD = re.compile(r"\b(?:19|20)\d\d\b|\b(?:quarter|half|months|[qh][1-4])\b")


# How a question opens when it is worded as one; a request worded otherwise ("Apple R&D
# expense third quarter 2025", "Tell me ...") that names a period asks for its figure, unless
# it asks for an account ("Summarise ...", "Explain why ...").
_OPENS = frozenset(
    str.split(
        "what what's which who whom whose why when where how is are was were do does did can"
        " could should would will has have had and or but so"
    )
)
_TELLS = re.compile(r"\b(?:summar\w*|explain\w*|describ\w*|discuss\w*|why|reasons?|about)\b")


def asks_amount(question: str) -> bool:
    """Whether the answer to `question` is a figure: "How much did gold rise?", "What was
    the effective tax rate?", "What were its revenues in the second quarter of 2025?" (a
    "what was" of a period), "Apple R&D expense third quarter 2025" (a period, without a
    question word), not "What drove the rise?" or "What did the Fed decide?"."""
    said = " ".join(words(question))
    if _ASKS_AMOUNT.search(said):
        return True
    asked = said.split()
    if asked and asked[0] not in _OPENS and _PERIOD.search(said) and not _TELLS.search(said):
        return True  # no question word: "NVIDIA revenue, second quarter fiscal 2026"
    if not asked or asked[0] not in ("what", "what's"):
        return False
    if not _AMOUNT_NOUNS.isdisjoint(asked):
        return True
    return asked[1:2] in (["was"], ["were"]) and _PERIOD.search(said) is not None


# A number in words, not naming a period ("two policymakers"; not "the first nine months" or
# "the three- and nine-month periods").
_NUMBER_WORDS = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    r"|fifty|hundred|thousand|million|billion|trillion|dozens?)\b"
    r"(?![\w\s-]{0,16}?\b(?:months?|weeks?|days?|years?|quarters?|hours?)\b)",
    re.IGNORECASE,
)


def has_figure(text: str) -> bool:
    """Whether `text` states a figure: a digit that is not a year, a date's day or a
    quarter's name, or a number word ("rose 2% in 2025" and "two policymakers dissented" do;
    "in the third quarter of 2025" does not)."""
    if any(c.isdigit() for c in _NOT_FIGURES.sub(" ", text)):
        return True
    return _NUMBER_WORDS.search(text) is not None


# What asks for a reason, not a fact: "Why did ... fall?", "What drove the rise?".
_ASKS_REASON = re.compile(
    r"^\W*(?:why|how come)\b|\bwhat (?:drove|drives|caused|causes|led to|explains|was behind"
    r"|were behind|is behind|are behind)\b|\breasons? (?:for|behind|why)\b",
    re.IGNORECASE,
)
_CHANGE_WORDS = (
    r"(?:increas|decreas|ris|rose|fell|fall|grew|grow|declin|drop|gain|los|climb|jump|slid"
    r"|slump|surg|up|down|higher|lower|change)\w*"
)
_SHARE = r"[-+]?\d[\d.,]*\s*(?:%|percent\b|per cent\b|percentage points?\b|basis points?\b|bps\b)"
_SHARES = rf"{_SHARE}(?:\s*(?:,\s*(?:and|or)?|and|or|to)\s*{_SHARE})*"  # "14%, 11%, and 10%"
_ABOUT = r"(?:\s+(?:about|approximately|nearly|almost|some))?"
# A change stated as a share ("increased 4%", "4% volume increases"), or a part's share of a
# whole ("represented 23% of total revenue", "accounted for 50% and 51%"): not a level.
_CHANGE_SHARE = re.compile(
    rf"\b{_CHANGE_WORDS}(?:\s+by)?{_ABOUT}\s+{_SHARES}"
    rf"|{_SHARES}(?:\s+\w+){{0,2}}?\s+{_CHANGE_WORDS}"
    rf"|\b(?:represent\w*|accounted for|accounts? for|comprised|made up){_ABOUT}\s+{_SHARES}",
    re.IGNORECASE,
)
_PERCENTAGE = re.compile(r"\d\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)


# The words of SIDES that say something moved (not "up", "over", ...: "What did UP earn?").
_MOVES = frozenset(w for w, side in SIDES.items() if side in ("up", "down")) - frozenset(
    ["up", "down", "above", "below", "over", "under", "loss", "losses"]
)


def asks_reason(question: str) -> bool:
    """Whether `question` asks why something happened ("Why did revenue fall?", "What drove
    the rise?"): a sentence that explains answers it, not a row of figures."""
    return _ASKS_REASON.search(question) is not None


def asks_change(question: str) -> bool:
    """Whether `question` asks about a change ("How much did gold rise?", "By how much did
    sales grow?"), not a level ("How much revenue did it earn?"). A name's words say nothing
    moved ("How much cash did Income & Growth Fund V hold?")."""
    named = {w for name in names(question) for w in words(name)}
    asked = [w for w in words(question) if w not in named]
    return any(w in _MOVES for w in asked) or any(w.startswith("chang") for w in asked)


def asks_percentage(question: str) -> bool:
    """Whether the figure asked for is a percentage ("What was the gross margin percentage?",
    "What share of revenue came from its largest customer?"; not "earnings per share of")."""
    return _ASKS_PERCENTAGE.search(question) is not None


_ASKS_PERCENTAGE = re.compile(
    r"\b(?:percent|percentage|per cent)\b|%"
    r"|(?<!per )\b(?:share|proportion|portion|fraction)\s+of\b",
    re.IGNORECASE,
)


def has_level(text: str) -> bool:
    """Whether `text` states a figure other than a change or a part given as a share:
    "increased 1% to $751 million" does ($751 million); "increased 4%, driven by 4% volume
    increases" and "sales to Customer A represented 23% of total revenue" do not."""
    return has_figure(_CHANGE_SHARE.sub(" ", text))


def has_percentage(text: str) -> bool:
    return _PERCENTAGE.search(text) is not None


# A name: capitalised words that are not all capitals ("Switzerland", "Swiss National Bank",
# "Bank of England"), with its possessive dropped. Acronyms ("VAT", "UK") are left out:
# documents often spell them out.
_CAPITALISED = r"[A-Z][a-z][\w-]*"
_NAME = re.compile(rf"(?<![\w']){_CAPITALISED}(?:(?: of(?: the)?)? {_CAPITALISED})*(?:'s)?")
# Words whose "'s" is "is" or "has", not a possessive ("What's the cap?", "Here's why").
_CONTRACTED = frozenset("what who where when why how it that there here let he she this".split())  # noqa: SIM905


def names(question: str) -> list[str]:
    """The proper names `question` uses ("What did the Swiss National Bank decide?" -> Swiss
    National Bank). A sentence's first word is not one ("What", "Compare", "Up to ..."), unless
    it is a possessive ("Norway's rate?")."""
    found = []
    for match in _NAME.finditer(question.replace("\u2019", "'")):
        name = match.group(0)
        before = question[: match.start()].rstrip()
        opens = not before or before[-1] in ".?!:"
        contracted = name.removesuffix("'s").lower() in _CONTRACTED
        if opens and (" " in name or not name.endswith("'s") or contracted):
            name = name.partition(" ")[2]  # "Compare Apple" -> "Apple"
            name = name.removeprefix("of ").removeprefix("the ")
        if name:
            found.append(name.removesuffix("'s"))
    return found
