"""Answers and the ratings people give them, in one SQL database (SQLAlchemy Core).

Default: SQLite under the data dir. Scale-out: any server SQLAlchemy speaks to, such as
PostgreSQL, by `MICROFLEET_FEEDBACK_URL`; every replica then records into the same tables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.micromodel.spec import FLEET_MODEL

_meta = sa.MetaData()
_responses = sa.Table(
    "responses",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("session", sa.String(256)),
    sa.Column("tenant", sa.String(64), index=True),  # who was answered; only they may rate it
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("sources", sa.Text, nullable=False),  # JSON
    sa.Column("trace", sa.Text),  # JSON: the orchestrator's calls (model "fleet")
)
_feedback = sa.Table(
    "feedback",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("response_id", sa.String(64), sa.ForeignKey("responses.id"), index=True),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("correction", sa.Text),
    sa.Column("comment", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
)


class UnknownResponse(UserError):
    """Feedback for an answer this server never gave (or one from before the store existed)."""


@dataclass
class AnswerRecord:
    """One answer as the user saw it."""

    id: str
    model: str
    question: str
    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    trace: dict[str, Any] | None = None
    session: str | None = None
    tenant: str = "public"

    def micromodels(self) -> list[str]:
        """The micromodels this answer came from: the model itself, or the fleet's calls."""
        if self.model != FLEET_MODEL:
            return [self.model]
        calls = (self.trace or {}).get("calls", [])
        return sorted({c["name"] for c in calls if c.get("output") is not None})


@dataclass
class FeedbackEntry:
    id: int
    rating: int
    correction: str | None
    comment: str | None
    created: float
    response: AnswerRecord

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["response_id"] = self.response.id
        return out


class FeedbackStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url)
        _meta.create_all(self.engine)
        _add_tenant_column(self.engine)

    def record(self, answer: AnswerRecord) -> None:
        row = {
            "id": answer.id,
            "created": time.time(),
            "model": answer.model,
            "session": answer.session,
            "tenant": answer.tenant,
            "question": answer.question,
            "answer": answer.answer,
            "sources": json.dumps(answer.sources, ensure_ascii=False),
            "trace": json.dumps(answer.trace, ensure_ascii=False) if answer.trace else None,
        }
        with self.engine.begin() as conn:
            known = conn.execute(sa.select(_responses.c.id).where(_responses.c.id == answer.id))
            if known.first() is None:
                conn.execute(_responses.insert().values(**row))

    def add(
        self,
        response_id: str,
        rating: int,
        correction: str | None,
        comment: str | None,
        tenant: str = "public",
    ) -> FeedbackEntry:
        """Store `tenant`'s rating of an answer it was given; UnknownResponse if there is no
        such answer for that tenant (another tenant's answer is as unknown as none)."""
        if rating not in (1, -1):
            raise UserError("rating must be 1 (thumbs up) or -1 (thumbs down)")
        mine = sa.func.coalesce(_responses.c.tenant, "public") == tenant
        with self.engine.begin() as conn:
            found = conn.execute(_responses.select().where(_responses.c.id == response_id, mine))
            row = found.mappings().first()
            if row is None:
                raise UnknownResponse(
                    f"no answer with id '{response_id}'; rate the id a chat completion returned"
                )
            entry = FeedbackEntry(
                0,
                rating,
                (correction or "").strip() or None,
                (comment or "").strip() or None,
                time.time(),
                _answer(dict(row)),
            )
            values = {
                "response_id": response_id,
                "rating": rating,
                "correction": entry.correction,
                "comment": entry.comment,
                "created": entry.created,
            }
            inserted = conn.execute(_feedback.insert().values(**values)).inserted_primary_key
        entry.id = int(inserted[0]) if inserted else 0
        return entry

    def entries(
        self, micromodel: str | None = None, limit: int | None = None
    ) -> list[FeedbackEntry]:
        """Feedback, newest first; with `micromodel`, only answers that came from it."""
        joined = _feedback.join(_responses, _feedback.c.response_id == _responses.c.id)
        query = sa.select(_feedback, *[c.label(f"r_{c.name}") for c in _responses.c])
        query = query.select_from(joined).order_by(_feedback.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        entries = [_entry(dict(row)) for row in rows]
        if micromodel is not None:
            entries = [e for e in entries if micromodel in e.response.micromodels()]
        return entries[:limit] if limit else entries

    def counts(self) -> dict[str, dict[str, int]]:
        """Per micromodel (and per served model): thumbs up, thumbs down, corrections."""
        out: dict[str, dict[str, int]] = {}
        for entry in self.entries():
            for name in {entry.response.model, *entry.response.micromodels()}:
                tally = out.setdefault(name, {"up": 0, "down": 0, "corrections": 0})
                tally["up" if entry.rating > 0 else "down"] += 1
                tally["corrections"] += entry.correction is not None
        return out

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def open_feedback(settings: Settings) -> Iterator[FeedbackStore]:
    """The configured store, for one command's work."""
    store = FeedbackStore(settings.feedback_db_url)
    try:
        yield store
    finally:
        store.close()


def _answer(row: dict[str, Any], prefix: str = "") -> AnswerRecord:
    trace = row[f"{prefix}trace"]
    return AnswerRecord(
        id=row[f"{prefix}id"],
        model=row[f"{prefix}model"],
        question=row[f"{prefix}question"],
        answer=row[f"{prefix}answer"],
        sources=json.loads(row[f"{prefix}sources"]),
        trace=json.loads(trace) if trace else None,
        session=row[f"{prefix}session"],
        tenant=row[f"{prefix}tenant"] or "public",
    )


def _add_tenant_column(engine: sa.Engine) -> None:
    """Databases made before tenants get the column; their answers belong to `public`."""
    columns = {c["name"] for c in sa.inspect(engine).get_columns("responses")}
    if "tenant" not in columns:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE responses ADD COLUMN tenant VARCHAR(64)"))


def _entry(row: dict[str, Any]) -> FeedbackEntry:
    return FeedbackEntry(
        id=row["id"],
        rating=row["rating"],
        correction=row["correction"],
        comment=row["comment"],
        created=row["created"],
        response=_answer(row, "r_"),
    )
