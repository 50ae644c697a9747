"""What one request is, free of any transport: the served model it asks (`ModelRoute`), the
request itself (`Turn`), what the assistant prepared to answer it (`Prepared`), and the
answering options (`AnswerOptions`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from microfleet.core.hits import SearchFilter
from microfleet.inference.cache import CacheKey
from microfleet.inference.rag import CHAT_SYSTEM_PROMPT, RAG_SYSTEM_PROMPT
from microfleet.inference.tracing import TraceRecord
from microfleet.llm.generator import Generator, Messages


@dataclass
class ModelRoute:
    """A served model id: its backend, the system prompt it was trained on, its search scope."""

    generator: Generator
    system_prompt: str | None = None  # None: the base model's, grounded or plain
    scope: SearchFilter | None = None
    version: str = "base"
    # A micromodel's: whether its own adapter answers (False: the base model stands in).
    # None: not a micromodel (the base model, "fleet").
    champion: bool | None = None

    def prompt(self, grounded: bool) -> str:
        if self.system_prompt:
            return self.system_prompt
        return RAG_SYSTEM_PROMPT if grounded else CHAT_SYSTEM_PROMPT


@dataclass
class Turn:
    """One request, free of any transport."""

    model: str
    messages: Messages
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0  # sampling: the nucleus
    seed: int | None = None  # sampling: repeatable
    stop: tuple[str, ...] = ()  # the answer ends before the first of these
    schema: dict[str, Any] | None = None  # the answer is JSON under this schema, and only that
    session: str | None = None
    tenant: str = "public"
    use_cache: bool = True
    rag: bool = True
    filter: SearchFilter | None = None
    readers: tuple[str, ...] = ()  # the owners whose documents it may read (all: ())
    # A question the injection screen flagged: "refuse" it, or answer it with "no_tools"
    # (no micromodels); None: not flagged.
    guard: str | None = None
    vector: list[float] | None = None  # the question's embedding, where the caller has it

    @property
    def memory_key(self) -> str | None:
        """The session as stored: the same session id under two tenants is two sessions."""
        return f"{self.tenant}:{self.session}" if self.session else None


@dataclass
class Prepared:
    turn: Turn
    route: ModelRoute
    question: str
    # The question as it reads on its own: joined to the ones before when it follows on from
    # them ("And France's?"). Retrieval, the micromodels and the reader get this one.
    standalone: str = ""
    focus: str = ""  # what quoted sentences must answer: a follow-up's own words, if joined
    messages: Messages = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    fixed_answer: str | None = None  # a cache hit, or "no sources"
    finish: str = "stop"  # the fixed answer's finish_reason ("content_filter": refused)
    cached: str | None = None  # "exact" | "semantic"
    cache_key: CacheKey | None = None
    vector: list[float] | None = None
    trace: TraceRecord | None = None
    fleet_trace: dict[str, Any] | None = None  # what the orchestrator did (model "fleet")
    appendix: str = ""  # text that follows the generated answer (the micromodel answers)
    # Only a whole answer is cached: not one with a failed call, no source, or a loop cut off.
    cacheable: bool = True
    # The id clients get back (and rate with POST /v1/feedback).
    response_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")


@dataclass
class AnswerOptions:
    k: int = 3
    min_similarity: float = 0.3
    others_within: float = 0.8
    context_window: int = 2048
    memory_tokens: int = 1024
    source_footer: bool = False  # a "Sources: ..." list in the text when it cites none inline
    quote_k: int = 5  # chunks the fleet's reader reads when it quotes its sources
