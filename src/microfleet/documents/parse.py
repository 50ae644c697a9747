"""Parse one raw record (a file, a JSONL line, a feed entry) into a clean Document."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from microfleet.documents.clean import decode_text, html_to_text, normalize_text
from microfleet.documents.convert import CONVERTED_SUFFIXES, convert
from microfleet.documents.pdf import pdf_text
from microfleet.documents.schema import Document
from microfleet.errors import DocumentError

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | CONVERTED_SUFFIXES | {".pdf", ".jsonl"}


@dataclass(frozen=True)
class RawRecord:
    """What a source emits: a file path, one JSONL line, or an already-shaped document dict."""

    ref: str
    path: Path | None = None
    line: str | None = None
    fields: dict[str, Any] | None = field(default=None, hash=False)
    error: str | None = None  # set by a source that failed before producing a document
    content: bytes | None = field(default=None, hash=False)  # an uploaded file's bytes


def file_doc_id(path: Path) -> str:
    """A file's document id: its path relative to the working directory, else absolute."""
    resolved = path.resolve()
    rel = os.path.relpath(resolved)
    return Path(rel).as_posix() if not rel.startswith("..") else resolved.as_posix()


def parse_record(record: RawRecord, max_bytes: int) -> Document:
    """Parse and clean one record. Raises DocumentError with a one-line reason."""
    if record.error is not None:
        raise DocumentError(record.error)
    if record.fields is not None:
        doc = _validate(record.fields)
    elif record.line is not None:
        doc = parse_jsonl_line(record.line, max_bytes)
    elif record.path is not None:
        doc = parse_file(record.path, max_bytes, record.content)
    else:
        raise DocumentError("empty record")
    return clean_document(doc)


def clean_document(doc: Document) -> Document:
    """Fill `text` from `html` where needed and normalise it; refuse an empty result."""
    text = doc.text if doc.text else html_to_text(doc.html or "")
    text = normalize_text(text)
    if not text:
        raise DocumentError("document is empty after cleaning; give it some text")
    return doc.model_copy(update={"text": text, "html": None, "title": doc.title.strip()})


def parse_jsonl_line(line: str, max_bytes: int) -> Document:
    if len(line.encode("utf-8", errors="replace")) > max_bytes:
        raise DocumentError(_too_large(len(line), max_bytes))
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"line is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise DocumentError('line is JSON but not an object; expected {"id": ..., "text": ...}')
    return _validate(data)


def _validate(data: dict[str, Any]) -> Document:
    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise DocumentError(f"invalid document: {where + ': ' if where else ''}{msg}") from None


def unsupported(path: Path) -> str:
    """The one-line reason a file of this type is not ingested."""
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    return f"unsupported file type '{path.suffix.lower() or path.name}'; supported: {supported}"


def parse_file(path: Path, max_bytes: int, content: bytes | None = None) -> Document:
    """Read a supported file into a Document whose id is its path; an upload's
    `content` is parsed as the file `path` names, with that name as its id."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES - {".jsonl"}:
        raise DocumentError(unsupported(path))
    if content is not None and len(content) > max_bytes:
        raise DocumentError(_too_large(len(content), max_bytes))
    data = _read_bytes(path, max_bytes) if content is None else content
    doc_id = file_doc_id(path) if content is None else path.as_posix()
    if suffix == ".pdf":
        title, text = pdf_text(data)
        return Document(id=doc_id, title=title or _first_heading(text) or path.stem, text=text)
    if suffix in CONVERTED_SUFFIXES:
        done = convert(data, suffix)
        title = done.title or _first_heading(done.text) or path.stem
        return Document(
            id=doc_id, title=title, text=done.text or " ", published_at=done.published_at
        )
    body = decode_text(data)
    if suffix in HTML_SUFFIXES:
        return Document(id=doc_id, title=_html_title(body) or path.stem, html=body or " ")
    return Document(id=doc_id, title=_first_heading(body) or path.stem, text=body or " ")


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(_too_large(size, max_bytes))
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from None


def _html_title(html: str) -> str:
    import re

    match = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    return normalize_text(match.group(1)) if match else ""


def _first_heading(text: str) -> str:
    for line in text.splitlines()[:5]:
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"document is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; "
        "split it or raise MICROFLEET_MAX_DOCUMENT_MB"
    )
