"""The document contract shared with outside tools (see DESIGN.md, 'Document JSONL')."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Document(BaseModel):
    """One source document. `id` is required, and so is at least one of `text` / `html`."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    title: str = ""
    text: str | None = None
    html: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    source: str | None = None
    symbols: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("url", mode="before")
    @classmethod
    def _web_url_only(cls, value: object) -> object:
        """Only an http(s) URL is kept: any other scheme (javascript:, data:, file:) is
        dropped, so a link to the document can never run or read anything."""
        if not isinstance(value, str):
            return value
        url = value.strip()
        parsed = urlsplit(url)
        return url if parsed.scheme.lower() in ("http", "https") and parsed.netloc else None

    @field_validator("title", mode="before")
    @classmethod
    def _title_not_null(cls, value: object) -> object:
        return "" if value is None else value

    @model_validator(mode="after")
    def _has_body(self) -> Document:
        if not (self.text or self.html):
            raise ValueError("document has neither 'text' nor 'html'")
        return self

    def published_iso(self) -> str | None:
        """RFC 3339 in UTC, as stored in the payload (so range filters compare correctly)."""
        if self.published_at is None:
            return None
        value = self.published_at
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def content_hash(self, salt: str = "") -> str:
        """A digest of everything that ends up in the index; `salt` carries the chunking setup."""
        fields = self.model_dump(mode="json", exclude={"id"})
        raw = json.dumps([fields, salt], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Failure:
    """A document that could not be ingested: where it came from, why, and its raw input."""

    ref: str
    reason: str
    raw: str | None = None

    def as_json(self) -> str:
        raw = self.raw if self.raw is None or len(self.raw) <= 100_000 else self.raw[:100_000]
        return json.dumps({"ref": self.ref, "reason": self.reason, "raw": raw}, ensure_ascii=False)
