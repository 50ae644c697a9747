"""What a fleet says about its documents: rules that read a title from a document's opening.

A file's own metadata often names it badly: an SEC filing's HTML <title> is a file name
("aapl-20250628") or "Form 10-K". The title goes into every chunk's embedding input, so
a filing whose chunks do not name the company cannot be told from another company's. A
fleet knows its documents' conventions (a filing's cover page names the registrant, the
form and the period) and declares them here; the core applies them and knows no domain.
"""

from __future__ import annotations

import re
import string

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TitleRule(BaseModel):
    """Where `when` matches a document's opening text, its title becomes `title` filled with
    `fields`: each field is the first group (or the whole match) of the first of its
    patterns that matches. A rule whose fields do not all match leaves the title alone."""

    model_config = ConfigDict(extra="forbid")

    when: str = Field(description="A regular expression the opening text must match.")
    title: str = Field(description="A template, e.g. '{name}, Form {form}'.")
    fields: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("when")
    @classmethod
    def _when_compiles(cls, value: str) -> str:
        _compile(value)
        return value

    @field_validator("fields")
    @classmethod
    def _fields_compile(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for patterns in value.values():
            if not patterns:
                raise ValueError("each field needs at least one pattern")
            for pattern in patterns:
                _compile(pattern)
        return value

    @model_validator(mode="after")
    def _template_fields_declared(self) -> TitleRule:
        named = {name for _, name, _, _ in string.Formatter().parse(self.title) if name}
        missing = named - set(self.fields)
        if missing:
            raise ValueError(f"title uses undeclared fields: {', '.join(sorted(missing))}")
        return self


class DocumentsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    titles: list[TitleRule] = Field(default_factory=list)
    head_chars: int = Field(
        default=6000, ge=100, description="How much of a document's opening the rules read."
    )


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {pattern}") from None
