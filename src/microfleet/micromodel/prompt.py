"""The micromodel contract's prompt: how a question and the context retrieved for it become
the chat a micromodel is trained, evaluated and served with. One function for each step, so
training and serving cannot drift apart (knowledge/context.py retrieves that context)."""

from __future__ import annotations

from typing import Any

from microfleet.core.hits import SearchHit

CONTEXT_K = 2  # chunks retrieved for a micromodel's question
CONTEXT_CHARS = 800  # the context block's length cap, over all its chunks
MIN_SIMILARITY = 0.3  # a chunk less similar than this to the question is not context
# Nor one of another document than the closest chunk's, under this share of its similarity.
OTHERS_WITHIN = 0.8


def build_messages(system_prompt: str, question: str, context: str) -> list[dict[str, str]]:
    """The chat a micromodel answers (and its teacher, when one writes the answers)."""
    user = f"Context:\n{context}\n\nQuestion: {question}" if context else question
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]


def context_block(hits: list[SearchHit]) -> str:
    """The hits numbered in relevance order, as the answer cites them, cut at CONTEXT_CHARS."""
    parts, used = [], 0
    for i, hit in enumerate(hits, start=1):
        text = hit.text[: max(0, CONTEXT_CHARS - used)]
        if not text:
            break
        used += len(text)
        parts.append(f"[{i}] {hit.title}: {text}")
    return "\n".join(parts)


def source_of(hit: SearchHit) -> dict[str, Any]:
    return {"doc_id": hit.doc_id, "title": hit.title, "url": hit.url}
