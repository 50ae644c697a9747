"""A fleet's glossary: the short forms its users write for what its documents spell out.

"What did the Fed do?" embeds far from "The Federal Reserve lowered its benchmark federal
funds range" (cosine 0.39, against 0.59 for "What did the Federal Reserve do?"), and to BM25
"Fed" is not "Federal". A question is searched and read with each short form it uses followed
by its long form: "What did the Fed (Federal Reserve) do?". The terms are the fleet's data
(`glossary` in its fleet file); nothing here knows a domain."""

from __future__ import annotations

import re
from collections.abc import Mapping


class Glossary:
    """Short form -> long form. A short form with a capital letter matches only as written
    ("Fed", not "fed"); an all-lower-case one in any case ("eurozone", "Eurozone")."""

    def __init__(self, terms: Mapping[str, str] | None = None) -> None:
        self.terms = dict(terms or {})
        self._patterns = [
            (
                re.compile(
                    rf"\b{re.escape(short)}\b(?:'s)?", 0 if short.lower() != short else re.I
                ),
                long,
            )
            for short, long in self.terms.items()
        ]

    def expand(self, text: str) -> str:
        """`text` with the long form after each short form it uses, once, unless the long form
        is there already."""
        for pattern, long in self._patterns:
            found = pattern.search(text)
            if found is None or long.lower() in text.lower():
                continue
            text = f"{text[: found.end()]} ({long}){text[found.end() :]}"
        return text
