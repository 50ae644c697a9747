"""Turn markup into clean text and normalise whitespace and boilerplate."""

from __future__ import annotations

import logging
import re
import unicodedata

import trafilatura
from inscriptis import get_text

# trafilatura logs an ERROR for every fragment it declines; the fallback handles those.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
_FULL_PAGE = re.compile(r"<(html|body)[\s>]", re.IGNORECASE)

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
    """A page's main text without navigation and footers (trafilatura); a fragment's visible
    text with its layout (inscriptis), which is also the fallback for pages trafilatura declines."""
    if _FULL_PAGE.search(html):
        extracted = trafilatura.extract(html, include_comments=False, include_tables=True)
        if extracted:
            return extracted
    return get_text(html)


def normalize_text(text: str) -> str:
    """NFKC, no control characters, single spaces, at most one blank line, no boilerplate lines."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    kept = [line for line in lines if not _BOILERPLATE.match(line)]
    return _BLANK_LINES.sub("\n\n", "\n".join(kept)).strip()
