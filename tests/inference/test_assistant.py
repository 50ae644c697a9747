"""The answer pipeline around the model, fast: a scripted Generator and a hashing Embedder
(real subclasses of the seams) over a real Qdrant Edge shard, SQLite memory and the feedback
store. What the model says is not under test here; what the pipeline does with it is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from microfleet.documents.parse import RawRecord
from microfleet.features.chunking import Chunker, load_generator_tokenizer
from microfleet.features.pipeline import (
    DeadLetter,
    PipelineContext,
    embed_batch,
    prepare_batch,
    write_batch,
)
from microfleet.feedback.store import FeedbackStore
from microfleet.inference.assistant import Assistant
from microfleet.inference.memory import SQLiteMemory
from microfleet.inference.tracing import Tracer
from microfleet.inference.turns import AnswerOptions, ModelRoute, Turn
from microfleet.knowledge.edge import EdgeVectorStore
from microfleet.knowledge.embedding import HashingEmbedder
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.sparse import Bm25Encoder
from microfleet.knowledge.store import Fusion
from microfleet.llm.scripted import ScriptedGenerator

DOCS = [
    {"id": "harbour", "title": "Harbour opening hours", "text": "The harbour opens at six."},
    {"id": "ferry", "title": "Ferry fares", "text": "A ferry ticket costs four euros."},
]


@pytest.fixture
def parts(tmp_path: Path, models_dir: Path) -> Iterator[tuple[Assistant, ScriptedGenerator]]:
    embedder = HashingEmbedder()
    store = EdgeVectorStore(tmp_path / "shard", embedder.dim)
    chunker = Chunker(load_generator_tokenizer(models_dir), 200, 20)
    ctx = PipelineContext(
        chunker, embedder, Bm25Encoder(), store, DeadLetter(tmp_path / "dl"), 10**6
    )
    records = [RawRecord(ref=d["id"], fields=d) for d in DOCS]
    write_batch(embed_batch(prepare_batch(records, ctx), ctx), ctx)
    model = ScriptedGenerator("tiny", reply="It opens at six.")
    assistant = Assistant(
        routes={"tiny": ModelRoute(model)},
        count_tokens=lambda text: len(text.split()),
        memory=SQLiteMemory(tmp_path / "memory.db"),
        tracer=Tracer(),
        search=KnowledgeSearch(store, embedder, Bm25Encoder(), Fusion()),
        answers=FeedbackStore(f"sqlite:///{tmp_path / 'answers.db'}"),
    )
    yield assistant, model
    assistant.close()
    store.close()


async def _ask(assistant: Assistant, question: str, session: str | None = None) -> tuple[str, str]:
    turn = Turn("tiny", [{"role": "user", "content": question}], 32, session=session)
    prepared = await assistant.prepare(turn)
    text = "".join([d.text async for d in assistant.stream(prepared)])
    return text, prepared.response_id


def test_the_record_keeps_the_model_words_and_the_sources_apart(
    parts: tuple[Assistant, ScriptedGenerator],
) -> None:
    """The text is what the model said, the sources travel as data; a source list in the
    text is opt-in (source_footer), and the recorded answer never carries it."""
    assistant, model = parts
    shown, response_id = asyncio.run(_ask(assistant, "When does the harbour open?"))
    assert shown == "It opens at six."  # no footer by default
    assert "The harbour opens at six." in model.asked[0][-1]["content"]  # grounded
    assistant.options = AnswerOptions(source_footer=True)
    listed, listed_id = asyncio.run(_ask(assistant, "When does the harbour open?"))
    assert listed.startswith("It opens at six.") and "Sources: [1] Harbour opening hours" in listed
    assert assistant.answers is not None
    for answer_id in (response_id, listed_id):
        entry = assistant.answers.add(answer_id, 1, None, None)
        assert entry.response.answer == "It opens at six."
        assert entry.response.sources[0]["doc_id"] == "harbour"


def test_memory_keeps_what_the_client_was_shown(
    parts: tuple[Assistant, ScriptedGenerator],
) -> None:
    assistant, model = parts
    shown, _ = asyncio.run(_ask(assistant, "When does the harbour open?", session="s1"))
    asyncio.run(_ask(assistant, "And the ferry fare?", session="s1"))
    earlier = [m["content"] for m in model.asked[1]]
    assert shown in earlier  # the second question's prompt carries the first exchange
    assert assistant.memory.load("public:s1")[1]["content"] == shown
