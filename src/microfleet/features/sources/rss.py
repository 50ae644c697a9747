"""RSS and Atom feeds, by URL or file, parsed with feedparser."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from microfleet.documents.parse import RawRecord


class _Transient(Exception):
    """A 5xx or network error: worth another try."""


def read_feed(target: str, timeout: float) -> list[RawRecord]:
    """Every entry as a record; a feed that cannot be fetched or parsed is one failed record."""
    try:
        body = _load(target, timeout)
    except (_Transient, httpx.HTTPError, OSError) as exc:
        return [RawRecord(ref=target, error=_reason(exc))]
    except _HttpStatus as exc:
        return [RawRecord(ref=target, error=str(exc))]
    parsed = feedparser.parse(body)
    if not parsed.entries and (parsed.bozo or not parsed.feed):
        why = str(getattr(parsed, "bozo_exception", "")).splitlines()[0:1]
        detail = f" ({why[0][:120]})" if why and why[0] else ""
        return [RawRecord(ref=target, error=f"not an RSS or Atom feed{detail}")]
    source = parsed.feed.get("title") or target
    return [
        RawRecord(ref=f"{target}#{i}", fields=entry_fields(e, source))
        for i, e in enumerate(parsed.entries)
    ]


class _HttpStatus(Exception):
    pass


def _load(target: str, timeout: float) -> bytes:
    if not target.lower().startswith(("http://", "https://")):
        return Path(target).read_bytes()
    return _fetch(target, timeout)


@retry(
    retry=retry_if_exception_type(_Transient),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)
def _fetch(url: str, timeout: float) -> bytes:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.TransportError as exc:
        raise _Transient(f"cannot fetch feed: {exc}") from None
    if response.status_code >= 500:
        raise _Transient(f"feed answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise _HttpStatus(f"feed answered HTTP {response.status_code}; check the URL")
    return response.content


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if text.startswith(("feed", "cannot")) else f"cannot fetch feed: {text}"


def entry_fields(entry: Any, source: str) -> dict[str, Any]:
    """A feed entry in the document schema."""
    content = entry.get("content") or []
    html = content[0].get("value") if content else entry.get("summary")
    link = entry.get("link")
    ident = entry.get("id") or link or hashlib.sha256(str(entry.get("title")).encode()).hexdigest()
    return {
        "id": ident,
        "title": entry.get("title") or "",
        "html": html or entry.get("title"),
        "url": link,
        "published_at": _when(entry),
        "source": source,
        "tags": [t.get("term") for t in entry.get("tags", []) if t.get("term")],
    }


def _when(entry: Any) -> str | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    if not stamp:
        return None
    return datetime.fromtimestamp(calendar.timegm(stamp), tz=UTC).isoformat()
