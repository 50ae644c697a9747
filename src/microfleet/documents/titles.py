"""Titles read from a document's opening text, by the rules its fleet declares."""

from __future__ import annotations

import re
import string

from microfleet.documents.schema import Document
from microfleet.micromodel.documents import DocumentsSpec, TitleRule

_FLAGS = re.IGNORECASE | re.MULTILINE
_MARKUP = re.compile(r"[*_`#|\\]+")
MAX_TITLE_CHARS = 200


class Titler:
    """Applies a fleet's title rules; the first rule whose fields all match wins."""

    def __init__(self, spec: DocumentsSpec | None = None) -> None:
        self.rules = spec.titles if spec else []
        self.head_chars = spec.head_chars if spec else 0

    def retitle(self, doc: Document) -> Document:
        if not self.rules or not doc.text:
            return doc
        head = doc.text[: self.head_chars]
        for rule in self.rules:
            title = rule_title(rule, head)
            if title:
                return doc.model_copy(update={"title": title})
        return doc


def rule_title(rule: TitleRule, head: str) -> str | None:
    """The rule's title for this opening text, or None where it does not apply."""
    if not re.search(rule.when, head, _FLAGS):
        return None
    values: dict[str, str] = {}
    for name, patterns in rule.fields.items():
        value = _first_value(patterns, head)
        if not value:
            return None
        values[name] = value
    return string.Formatter().vformat(rule.title, (), values)[:MAX_TITLE_CHARS].strip()


def _first_value(patterns: list[str], head: str) -> str:
    for pattern in patterns:
        match = re.search(pattern, head, _FLAGS)
        if match:
            raw = match.group(1) if match.groups() else match.group(0)
            value = _clean(raw or "")
            if value:
                return value
    return ""


def _clean(value: str) -> str:
    """One line without Markdown emphasis; a shouted value (a cover page's capitals) in title
    case, so the title reads as a name."""
    value = " ".join(_MARKUP.sub(" ", value).split()).strip(" ,;:")
    if value.isupper():
        value = " ".join(_capitalized(word) for word in value.split())
    return value


def _capitalized(word: str) -> str:
    """INC. -> Inc.; a form number (10-K) stays as written."""
    return word if any(c.isdigit() for c in word) else word.capitalize()
