"""A conversation's question as it reads on its own. "And France's?" after "What is Germany's
VAT rate?" asks "What is France's VAT rate?"; "Which of the two is lower?" leans on both.
Retrieval and the micromodels see one question, so a follow-up is made whole first: a phrase
that continues the question before replaces the phrase of the same form in it (a name for a
name, an end for an end, a number for a number, or what the question ends on after a
preposition: "And gold?" after "What is happening to Brent crude?"); any other follow-up is
read together with the questions it leans on. English words only; nothing here knows a domain."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from microfleet.core.questions import HIGH_WORDS, LOW_WORDS, SERIES, words

_CONTINUES = re.compile(
    r"^\W*(?:(?:and|also|or|but|then|plus)\b\W*)?"
    r"(?:(?:what|how) about|what of|same for|for|in)?\b\W*",
    re.I,
)
_OPENS = re.compile(
    r"^\W*(?:and|also|or|but|then|plus|what about|how about|what of|same for)\b", re.I
)
_REFERS = re.compile(
    r"\b(?:it|its|they|them|their|theirs|he|she|his|her|this one|that one|these|those"
    r"|the two|the three|both|either|neither|the other|the others|the former|the latter"
    r"|which one|which ones)\b",
    re.I,
)
# A reaction with nothing it reacts to: "How did the EU respond?" leans on what happened.
_REACTS = re.compile(r"\b(?:respond|responded|react|reacted|reply|replied|retaliate)\W*$", re.I)
FRAGMENT = 3  # words: "The lowest?", "France?" lean on the question before
_PHRASE_WORDS = 4  # at most, in a phrase that stands in for one of the question before
_ARTICLES = ("the", "a", "an")
_NOT_NAMES = frozenset(  # capitalised as a question's first word, not as names
    str.split(
        "what which who whom whose how why when where is are was were do does did can could"
        " should would will has have had tell show give list compare explain describe and"
        " also or but then plus i"
    )
)
_FUNCTION = frozenset(
    str.split(
        "the a an of in on at to for from by with about is are was were be been its their this"
    )
)
# What a question ends on after a preposition: "Brent crude" of "What is happening to Brent
# crude?" (an article before it stays).
_PREPOSITION = re.compile(r"(?:to|of|on|in|for|about|with|at|from)\b", re.I)
_ENDS_ON = re.compile(
    rf"\b(?P<on>{_PREPOSITION.pattern})\s+(?P<thing>(?:(?:the|a|an)\s+)?"
    r"(?P<object>[\w'-]+(?:\s+[\w'-]+){0,2}))\W*$",
    re.I,
)
_SAYS_PREPOSITION = re.compile(
    r"^\W*(?:(?:and|also|or|but|then|plus)\b\W*)?(?:(?:what|how) about\s+)?"
    rf"({_PREPOSITION.pattern})",
    re.I,
)
_NAME = re.compile(r"[A-Z][\w&.-]*(?:\s+(?:of\s+|&\s+)?[A-Z][\w&.-]*)*(?:'s)?")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def follows_on(question: str) -> bool:
    """Whether `question` leans on the one before: it continues it ("And France's?", "What
    about the Fed?"), refers back to it ("How much did its shares fall?", "Which of the two is
    lower?", "How did the EU respond?") or is a fragment."""
    text = _plain(question)
    refers = _REFERS.search(text) or _REACTS.search(text)
    return bool(_OPENS.match(text) or refers or len(words(text)) <= FRAGMENT)


@dataclass(frozen=True)
class Whole:
    """A conversation's last question as it reads on its own."""

    text: str
    # What the sentences quoted must answer: the last question's own words where `text` joins
    # it to the ones it leans on ("How big is its buyback?"), else `text`.
    focus: str


def standalone(asked: Sequence[str], most: int = 3) -> Whole:
    """The last of a conversation's questions `asked` as it reads on its own: with a phrase
    put in place ("What is France's VAT rate?"), or joined to the questions it leans on, `most`
    at most ("What is Germany's VAT rate? What is France's VAT rate? Which of the two is
    lower?")."""
    kept: list[str] = []  # the chain of questions the last one leans on, each made whole
    whole = Whole("", "")
    for question in asked:
        if not kept or not follows_on(question):
            kept, whole = [question], Whole(question, question)
            continue
        put = substituted(kept[-1], question)
        kept.append(put or question)
        whole = Whole(put, put) if put else Whole(" ".join(kept[-most:]), question)
    return whole


def substituted(previous: str, followup: str) -> str | None:
    """`previous` with the phrase `followup` brings in place of the one of its form: a name
    ("the Fed" for "the ECB"), an end ("the lowest" for "the highest"), a number ("2024" for
    "2025"). None when the follow-up is more than a phrase, or `previous` has none of its
    form."""
    phrase = _phrase(followup)
    if phrase is None:
        return None
    ends = LOW_WORDS | HIGH_WORDS
    if any(word in ends for word in words(phrase)):
        end = next(word for word in words(phrase) if word in ends)
        pattern = r"\b(?:" + "|".join(sorted(ends, key=len, reverse=True)) + r")\b"
        return _replace_last(previous, re.compile(pattern, re.I), end)
    if _NUMBER.fullmatch(phrase):
        return _replace_last(previous, _NUMBER, phrase)
    if _NAME.fullmatch(phrase) and not set(words(phrase)) & _NOT_NAMES:
        return _replace_name(previous, phrase)
    return _replace_head(previous, phrase) or _replace_object(previous, phrase, followup)


def _phrase(followup: str) -> str | None:
    """The phrase a follow-up brings: "the Fed" of "And what about the Fed?"; None when it
    says more than a short phrase ("And how did the Fed vote?")."""
    text = _CONTINUES.sub("", _plain(followup), count=1).strip(" ?.!")
    tokens = text.split()
    while tokens and tokens[0].lower() in _ARTICLES:
        tokens = tokens[1:]
    if not tokens or len(tokens) > _PHRASE_WORDS or _REFERS.search(text):
        return None
    return " ".join(tokens)


def _replace_last(text: str, pattern: re.Pattern[str], by: str) -> str | None:
    found = list(pattern.finditer(text))
    if not found:
        return None
    last = found[-1]
    return text[: last.start()] + by + text[last.end() :]


def _replace_head(previous: str, phrase: str) -> str | None:
    """`previous` with `phrase` in place of its words that end in the same word ("UK inflation"
    for "euro area inflation"); None when no run of its words ends so."""
    head = re.escape(phrase.split()[-1])
    runs = list(re.finditer(rf"\b(?:[\w'-]+\s+){{0,3}}?{head}\b", previous, re.I))
    if not runs:
        return None
    start, end = runs[-1].span()
    kept = previous[start:end].split()
    while len(kept) > 1 and kept[0].lower() in _NOT_NAMES | _FUNCTION:
        start += len(kept.pop(0)) + 1
    return previous[:start] + phrase + previous[end:]


def _replace_object(previous: str, phrase: str, followup: str) -> str | None:
    """`previous` with `phrase` in place of what it ends on after a preposition ("gold" for
    "Brent crude" in "What is happening to Brent crude?"), the same one where the follow-up
    names one ("And for restaurants?" is not "in Ireland"); None when it ends otherwise, or
    on a number, a date or one of a series ("in October" is not a thing to swap for "gold")."""
    found = _ENDS_ON.search(previous)
    if found is None:
        return None
    ending = found.group("object")
    if set(words(ending)) & (SERIES | _FUNCTION) or any(c.isdigit() for c in ending):
        return None
    said = _SAYS_PREPOSITION.match(_plain(followup))
    if said and said.group(1).lower() != found.group("on").lower():
        return None
    # the thing with its article ("for the economy" -> "for inflation"), or with its
    # preposition where the phrase brings one ("And on steel?")
    start = found.start() if _PREPOSITION.match(phrase) else found.start("thing")
    return previous[:start] + phrase + previous[found.end("object") :]


def _replace_name(previous: str, name: str) -> str | None:
    """`previous` with `name` in place of its last name of the same kind (possessive for
    possessive, an acronym for an acronym), or of its only name. None when it has several
    names and none of that kind ("Estonia" after "Which EU country has the highest VAT?")."""
    names = list(_names(previous))
    alike = [
        span
        for span in names
        if _possessive(previous[slice(*span)]) == _possessive(name)
        and _acronym(previous[slice(*span)]) == _acronym(name)
    ]
    chosen = alike or (names if len(names) == 1 else [])
    if not chosen:
        return None
    start, end = chosen[-1]
    return previous[:start] + name + previous[end:]


def _names(text: str) -> Iterator[tuple[int, int]]:
    """The spans of `text`'s names: capitalised runs, less a leading question word ("Which
    EU" is "EU")."""
    for match in _NAME.finditer(text):
        start = match.start()
        for word in match.group(0).split():
            if word.lower() not in _NOT_NAMES:
                break
            start += len(word) + 1
        if start < match.end():
            yield start, match.end()


def _possessive(name: str) -> bool:
    return name.endswith("'s")


def _acronym(name: str) -> bool:
    return name.replace("'s", "").isupper()


def _plain(text: str) -> str:
    return text.replace("\u2019", "'")
