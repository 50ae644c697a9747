"""Office files, spreadsheets, CSV, e-mail and PDFs with tables, as Markdown text.

- MarkItDown converts .docx, .pptx, .xlsx and .csv, and keeps their tables as Markdown tables.
- PDFs: see pdf.py.
- E-mail (.eml) is read by the standard library: the subject is the title, the HTML body (its
  tables kept) or else the plain one is the text, and the Date header is the publication date.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from microfleet.documents.clean import decode_text, html_to_text
from microfleet.errors import DocumentError

OFFICE_SUFFIXES = {".docx", ".pptx", ".xlsx", ".csv"}
CONVERTED_SUFFIXES = OFFICE_SUFFIXES | {".eml"}
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Converted:
    text: str
    title: str = ""
    published_at: datetime | None = None


def convert(data: bytes, suffix: str) -> Converted:
    """One file's bytes as Markdown text. Raises DocumentError with a one-line reason."""
    if suffix == ".eml":
        return convert_email(data)
    if suffix == ".csv":
        decode_text(data)  # refuses binary data and other encodings with a clear reason
    return Converted(markitdown(data, suffix))


def markitdown(data: bytes, suffix: str) -> str:
    """MarkItDown's converter for `suffix` itself: MarkItDown's own dispatch would fall back to
    reading a broken file as plain text."""
    from markitdown import StreamInfo
    from markitdown.converters import (
        CsvConverter,
        DocxConverter,
        PdfConverter,
        PptxConverter,
        XlsxConverter,
    )

    converters = {".docx": DocxConverter, ".pptx": PptxConverter, ".xlsx": XlsxConverter}
    converters |= {".csv": CsvConverter, ".pdf": PdfConverter}
    charset = "utf-8" if suffix == ".csv" else None
    info = StreamInfo(extension=suffix, charset=charset)
    try:
        result = converters[suffix]().convert(io.BytesIO(data), info)
    except Exception as exc:  # each format's library raises its own errors
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
        raise DocumentError(f"cannot read the {suffix} file: {first}") from None
    return _COMMENT.sub("", result.markdown or "")  # e.g. pptx's <!-- Slide number: 1 -->


def convert_email(data: bytes) -> Converted:
    message = BytesParser(policy=policy.default).parsebytes(data)
    if not isinstance(message, EmailMessage) or not (message["from"] or message["subject"]):
        raise DocumentError("not an e-mail message: no From or Subject header")
    body = message.get_body(preferencelist=("html", "plain"))
    if body is None:
        raise DocumentError("e-mail has no text or HTML body")
    content = str(body.get_content())
    text = html_to_text(content) if body.get_content_type() == "text/html" else content
    head = [f"{name}: {message[name]}" for name in ("From", "To", "Date") if message[name]]
    names = [part.get_filename() for part in message.iter_attachments() if part.get_filename()]
    if names:
        head.append("Attachments: " + ", ".join(str(n) for n in names))
    return Converted("\n".join(head) + "\n\n" + text, str(message["subject"] or ""), _date(message))


def _date(message: EmailMessage) -> datetime | None:
    try:
        return parsedate_to_datetime(str(message["date"])) if message["date"] else None
    except (TypeError, ValueError):
        return None
