"""Turn markup into clean text and normalise whitespace and boilerplate."""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from collections import defaultdict
from itertools import pairwise

import trafilatura
from inscriptis import get_text

from microfleet.errors import DocumentError

# trafilatura logs an ERROR for every fragment it declines; the fallback handles those.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
_FULL_PAGE = re.compile(r"<(html|body)[\s>]", re.IGNORECASE)
_TABLE = re.compile(r"<table[\s>]", re.IGNORECASE)
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# Lines that carry no content in news feeds and web pages.
_BOILERPLATE = re.compile(
    r"^(click here.*|read more\.?|continue reading.*|subscribe( now)?.*|"
    r"all rights reserved\.?|share this article.*|advertisement)$",
    re.IGNORECASE,
)
# A page's running header or footer: a short line that is not a table row and holds a number,
# repeated through the document with only its page number counting up ("Apple Inc. | Q3 2025
# Form 10-Q | 7", or a bare "12"). Pages this many at least, this many lines apart (a median):
_PAGES, _PAGE_LINES, _FURNITURE_CHARS = 4, 8, 80
_NUMBER = re.compile(r"\d+")


def html_to_text(html: str) -> str:
    """A page's main text without navigation and footers, as Markdown (trafilatura); a
    fragment's visible text with its layout (inscriptis), which is also the fallback for pages
    trafilatura declines. Tables stay Markdown tables, so that chunking keeps their rows whole."""
    if _FULL_PAGE.search(html):
        extracted = trafilatura.extract(
            _visible(html), include_comments=False, include_tables=True, output_format="markdown"
        )
        if extracted:
            return extracted
    if _TABLE.search(html):
        from markdownify import markdownify

        return str(markdownify(html, heading_style="ATX"))
    return get_text(html)


def _visible(html: str) -> str:
    """The page less what a browser would not show: elements styled display:none, such as
    the inline XBRL header of an SEC filing (thousands of tagged facts)."""
    if not _HIDDEN.search(html):
        return html
    import lxml.html

    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:  # bytes: a page may start with an XML declaration, which lxml refuses in a str
        tree = lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except (ValueError, lxml.etree.ParserError):
        return html
    for element in tree.xpath('//*[contains(translate(@style, " ", ""), "display:none")]'):
        element.drop_tree()
    return str(lxml.html.tostring(tree, encoding="unicode"))


def normalize_text(text: str) -> str:
    """NFKC, no control characters, single spaces, at most one blank line, no boilerplate lines."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    furniture = page_furniture(lines)
    kept = [
        line for i, line in enumerate(lines) if i not in furniture and not _BOILERPLATE.match(line)
    ]
    return _BLANK_LINES.sub("\n\n", "\n".join(kept)).strip()


def page_furniture(lines: list[str]) -> set[int]:
    """The indices of `lines` that are a page's running header or footer with its page
    number: in every chunk they would match any question about the company or the period,
    and carry nothing (a numbered list counts up too, but on consecutive lines)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        if len(line) <= _FURNITURE_CHARS and not line.startswith("|") and _NUMBER.search(line):
            groups[_NUMBER.sub("#", line)].append(i)
    found: set[int] = set()
    for where in groups.values():
        if len(where) < _PAGES:
            continue
        pages = [int(_NUMBER.findall(lines[i])[-1]) for i in where]
        gaps = [b - a for a, b in pairwise(where)]
        counting = all(b > a for a, b in pairwise(pages))
        if counting and statistics.median(gaps) >= _PAGE_LINES:
            found.update(where)
    return found


def decode_text(data: bytes) -> str:
    """UTF-8 text, refusing binary data and other encodings with a clear reason."""
    if b"\x00" in data[:8192]:
        raise DocumentError("file looks binary (contains NUL bytes); expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"text is not UTF-8 (bad byte at offset {exc.start}); convert it to UTF-8"
        ) from None
