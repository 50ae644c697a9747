"""Turn markup into clean text and normalise whitespace and boilerplate."""

from __future__ import annotations

import re
import unicodedata

import trafilatura

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# Lines that carry no content in news feeds and web pages.
_BOILERPLATE = re.compile(
    r"^(click here.*|read more\.?|continue reading.*|subscribe( now)?.*|"
    r"all rights reserved\.?|share this article.*|advertisement)$",
    re.IGNORECASE,
)


def html_to_text(html: str) -> str:
    """Main text of an HTML page or fragment (trafilatura), falling back to all visible text."""
    extracted = trafilatura.extract(
        html, include_comments=False, include_tables=True, favor_recall=True
    )
    if not extracted:
        extracted = trafilatura.html2txt(html) or ""
    return extracted


def normalize_text(text: str) -> str:
    """NFKC, no control characters, single spaces, at most one blank line, no boilerplate lines."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    kept = [line for line in lines if not _BOILERPLATE.match(line)]
    return _BLANK_LINES.sub("\n\n", "\n".join(kept)).strip()
