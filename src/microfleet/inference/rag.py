"""Grounding: retrieved chunks become numbered sources that fit the model's context window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from microfleet.core.hits import SearchHit
from microfleet.errors import UserError
from microfleet.llm.generator import Messages
from microfleet.micromodel.prompt import build_messages

RAG_SYSTEM_PROMPT = (
    "You are a careful assistant. Answer the question using only the numbered sources in the "
    "context, and cite the sources you use like [1]. If the sources do not answer the question, "
    "say that you do not know."
)
CHAT_SYSTEM_PROMPT = "You are a helpful assistant."
NO_SOURCES_ANSWER = (
    "I found nothing in the knowledge base that answers this, so I cannot give a sourced answer. "
    "Add documents on the topic to the knowledge base and ask again."
)
PROMPT_MARGIN = 16  # template tokens the count of the parts does not see
MESSAGE_TOKENS = 6  # what the chat template adds around each message (ChatML: 5), and a spare


@dataclass
class Grounding:
    """The prompt for the model and the sources its `[n]` citations refer to."""

    messages: Messages
    sources: list[dict[str, Any]] = field(default_factory=list)


def ground(
    system_prompt: str,
    history: Messages,
    question: str,
    hits: list[SearchHit] | None,
    budget: int,
    count: Callable[[str], int],
) -> Grounding:
    """Fit sources + history + question into `budget` tokens.

    The sources come first (they ground this answer), then the most recent turns that still fit.

    `hits=None` means no retrieval (plain chat). The question itself is never cut: a question
    longer than the budget is a UserError that states the limit.
    """
    fixed = count(system_prompt) + count(question) + PROMPT_MARGIN
    if fixed > budget:
        raise UserError(
            f"the prompt is {fixed} tokens; the limit is {budget} tokens for this max_tokens"
        )
    context, sources = _context(hits or [], budget - fixed, count)
    history = window(history, budget - fixed - (count(context) if context else 0), count)
    messages = [*build_messages(system_prompt, question, context)]
    messages[1:1] = history  # after the system prompt, before the question
    return Grounding(messages, sources)


def window(history: Messages, room: int, count: Callable[[str], int]) -> Messages:
    """The most recent turns that fit in `room` tokens."""
    kept: Messages = []
    for message in reversed(history):
        room -= count(message["content"]) + MESSAGE_TOKENS
        if room < 0:
            break
        kept.insert(0, message)
    return kept


def _context(
    hits: list[SearchHit], room: int, count: Callable[[str], int]
) -> tuple[str, list[dict[str, Any]]]:
    """Numbered by document: chunks of one document share its number, and it is one source."""
    parts: list[str] = []
    numbers: dict[str, int] = {}
    sources: list[dict[str, Any]] = []
    for hit in hits:
        number = numbers.get(hit.doc_id, len(numbers) + 1)
        part = f"[{number}] {hit.title}: {hit.text}"
        cost = count(part) + 1
        if cost > room:
            continue  # a shorter, lower-ranked chunk may still fit
        room -= cost
        parts.append(part)
        if hit.doc_id not in numbers:
            numbers[hit.doc_id] = number
            sources.append(hit.as_source(number))
    return "\n".join(parts), sources


SOURCES_FOOTER = "\n\nSources: "


def citation_footer(text: str, sources: list[dict[str, Any]]) -> str:
    """A numbered list of the sources when the model cited none of them inline."""
    if not sources or any(f"[{s['index']}]" in text for s in sources):
        return ""
    return SOURCES_FOOTER + "; ".join(f"[{s['index']}] {s['title']}" for s in sources)


def split_messages(messages: Messages) -> tuple[str, Messages, list[str]]:
    """(the last user message, the turns before it, the client's system prompts)."""
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    dialogue = [m for m in messages if m["role"] in ("user", "assistant")]
    if not dialogue or dialogue[-1]["role"] != "user" or not dialogue[-1]["content"].strip():
        raise UserError("messages must end with a non-empty user message")
    return dialogue[-1]["content"].strip(), dialogue[:-1], system
