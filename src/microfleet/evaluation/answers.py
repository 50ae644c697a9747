"""`eval answers`: answer quality of one setup (model, with or without retrieved context).

A setup is a generator, a system prompt and a retrieval scope. Every mode uses the prompt a
micromodel is trained and served with (its system prompt, then "Context: ... Question: ..."),
so base, fine-tuned, with and without RAG differ in one thing each. Questions run concurrently
(the local engine batches them); latency is per question under that load.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microfleet.core.hits import SearchFilter
from microfleet.evaluation.metrics import (
    exact_match,
    faithfulness,
    numeric_match,
    percentile,
    rouge_l,
    token_f1,
)
from microfleet.inference.assistant import Assistant
from microfleet.inference.turns import Turn
from microfleet.knowledge.context import retrieve_context
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.llm.generator import Generator
from microfleet.micromodel.prompt import build_messages

MODES = ("none", "rag", "finetuned", "both")
DEFAULT_PROMPT = "You are a helpful assistant. Answer briefly."


@dataclass
class Setup:
    label: str
    generator: Generator
    system_prompt: str = DEFAULT_PROMPT
    rag: bool = False
    scope: SearchFilter | None = None
    schema: dict[str, Any] | None = None  # a micromodel's `returns`: answers decoded under it


@dataclass
class Answered:
    text: str
    context: str
    latency_s: float
    tokens: int


async def answer_all(
    setup: Setup,
    questions: list[str],
    search: KnowledgeSearch | None,
    max_tokens: int = 64,
    concurrency: int = 8,
    progress: Callable[[], None] | None = None,
) -> tuple[list[Answered], float]:
    """Every question's answer, and the wall time of the whole set."""
    gate = asyncio.Semaphore(concurrency)

    async def one(question: str) -> Answered:
        async with gate:
            context = ""
            if setup.rag and search is not None:
                context, _ = await asyncio.to_thread(
                    retrieve_context, search, setup.scope, question
                )
            messages = build_messages(setup.system_prompt, question, context)
            started = time.perf_counter()
            reply = await setup.generator.generate(messages, max_tokens, 0.0, setup.schema)
            latency = time.perf_counter() - started
        if progress:
            progress()
        return Answered(reply.text.strip(), context, latency, reply.completion_tokens)

    started = time.perf_counter()
    answered = await asyncio.gather(*[one(q) for q in questions])
    return list(answered), time.perf_counter() - started


async def ask_all(
    assistant: Assistant,
    model: str,
    conversations: list[list[str]],
    max_tokens: int,
    concurrency: int = 4,
    progress: Callable[[], None] | None = None,
) -> tuple[list[Answered], float]:
    """Each conversation's last question answered as a user asks it: a served model (the
    fleet's orchestrator) through the assistant, after the earlier questions were asked and
    answered in turn, each answer whole, with no cache."""
    gate = asyncio.Semaphore(concurrency)

    async def one(questions: list[str]) -> Answered:
        messages: list[dict[str, str]] = []
        async with gate:
            for question in questions:
                messages.append({"role": "user", "content": question})
                turn = Turn(model, list(messages), max_tokens, use_cache=False)
                started = time.perf_counter()
                prepared = await assistant.prepare(turn)
                parts = [delta async for delta in assistant.stream(prepared)]
                latency = time.perf_counter() - started
                text = "".join(delta.text for delta in parts).strip()
                messages.append({"role": "assistant", "content": text})
        if progress:
            progress()
        return Answered(text, "", latency, sum(delta.completion_tokens for delta in parts))

    started = time.perf_counter()
    answered = await asyncio.gather(*[one(q) for q in conversations])
    return list(answered), time.perf_counter() - started


def score(answered: list[Answered], references: list[list[str]], wall_s: float) -> dict[str, Any]:
    """Mean metrics; numeric match over the questions whose reference has a number, and
    faithfulness over the answers that had retrieved context."""
    pairs = list(zip(answered, references, strict=True))
    numeric = [m for a, r in pairs if (m := numeric_match(a.text, r)) is not None]
    faithful = [
        f for a, _ in pairs if a.context and (f := faithfulness(a.text, a.context)) is not None
    ]
    latencies = sorted(a.latency_s for a in answered)
    return {
        "n": len(pairs),
        "exact_match": _mean([exact_match(a.text, r) for a, r in pairs]),
        "f1": _mean([token_f1(a.text, r) for a, r in pairs]),
        "numeric_match": _mean(numeric),
        "numeric_questions": len(numeric),
        "rouge_l": _mean([rouge_l(a.text, r) for a, r in pairs]),
        "faithfulness": _mean(faithful) if faithful else None,
        "answer_rate": _mean([float(bool(a.text)) for a in answered]),
        "latency_p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "latency_p95_ms": percentile(latencies, 0.95) * 1000,
        "tokens_per_s": sum(a.tokens for a in answered) / wall_s if wall_s > 0 else 0.0,
    }


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0
