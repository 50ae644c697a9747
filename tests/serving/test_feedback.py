"""POST /v1/feedback over real HTTP: the id a chat completion returns (JSON or streamed) rates
that answer, which is stored with its question, sources and model; bad input is 404 or 422.
Also the playground's routes: a file uploaded to /v1/ingest by name, and /v1/kb/stats."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from tests.conftest import KEY_A

QUESTION = "What is the standard VAT rate in Malta?"


def _client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY_A, max_retries=0)


def _post(server: str, body: object, auth: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server}/v1/feedback", json=body, headers=auth)


def test_a_json_answer_is_rated_with_its_id(
    server: str, runtime: Runtime, auth: dict[str, str]
) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    reply = _client(server).chat.completions.create(
        model=BASE_MODEL_NAME,
        messages=messages,
        max_tokens=16,  # type: ignore[arg-type]
    )
    body = {"response_id": reply.id, "rating": -1, "correction": "Malta: 18%.", "comment": "x"}
    saved = _post(server, body, auth)
    assert saved.status_code == 201, saved.text
    assert saved.json()["model"] == BASE_MODEL_NAME and saved.json()["correction"] == "Malta: 18%."
    entry = runtime.assistant.answers.entries(limit=1)[0]  # type: ignore[union-attr]
    assert entry.id == saved.json()["id"] and entry.comment == "x"
    assert entry.response.question == QUESTION
    shown = reply.choices[0].message.content or ""
    # the model's words as recorded; a source list shown after them is kept as data
    assert entry.response.answer and shown.startswith(entry.response.answer)
    assert "Sources:" not in entry.response.answer and entry.response.sources
    assert entry.response.sources == (reply.model_extra or {})["sources"]


def test_a_streamed_answer_is_rated_with_its_chunk_id(
    server: str, runtime: Runtime, auth: dict[str, str]
) -> None:
    stream = _client(server).chat.completions.create(
        model=BASE_MODEL_NAME,
        messages=[{"role": "user", "content": "Which company raised its dividend?"}],
        max_tokens=12,
        stream=True,
    )
    ids = {chunk.id for chunk in stream}
    assert len(ids) == 1
    saved = _post(server, {"response_id": ids.pop(), "rating": 1}, auth)
    assert saved.status_code == 201 and saved.json()["rating"] == 1


def test_bad_feedback_is_404_or_422(server: str, auth: dict[str, str]) -> None:
    unknown = _post(server, {"response_id": "chatcmpl-nope", "rating": 1}, auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("no answer with id 'chatcmpl-nope'")
    for rating in (0, 2, "up", None):
        bad = _post(server, {"response_id": "chatcmpl-nope", "rating": rating}, auth)
        assert bad.status_code == 422, rating
        assert bad.json()["error"]["message"].startswith("rating")
    extra = _post(server, {"response_id": "x", "rating": 1, "stars": 5}, auth)
    assert extra.status_code == 422
    assert _post(server, {"response_id": "x", "rating": 1}, {}).status_code == 401


def test_files_upload_by_name_and_counts_follow(server: str, auth: dict[str, str]) -> None:
    before = httpx.get(f"{server}/v1/kb/stats", headers=auth).json()

    def upload(name: str, data: bytes) -> dict[str, object]:
        url = f"{server}/v1/ingest?filename={name}"
        response = httpx.post(url, content=data, headers=auth, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    done = upload("dir/tariffs.md", b"# Quillon tariffs\n\nQuillon tariffs rose by 4 percent.")
    assert (done["documents"], done["errors"]) == (1, [])
    bad = upload("notes.xyz", b"plain")
    assert bad["documents"] == 0 and "unsupported file type '.xyz'" in bad["errors"][0]["reason"]
    lines = b'{"id": "up-1", "text": "Nordic timber exports"}\nnot json\n'
    mixed = upload("batch.jsonl", lines)
    assert mixed["documents"] == 1 and mixed["errors"][0]["ref"] == "batch.jsonl line 2"

    after = httpx.get(f"{server}/v1/kb/stats", headers=auth).json()
    assert after["documents"] == before["documents"] + 2 and after["chunks"] > before["chunks"]
    hits = httpx.post(
        f"{server}/v1/search", json={"query": "Quillon tariffs", "k": 1}, headers=auth
    ).json()["data"]
    assert hits[0]["doc_id"] == "upload/tariffs.md"


def test_every_format_uploads_by_name(server: str, auth: dict[str, str], tmp_path: Path) -> None:
    from tests.documents.formats import TABLES, write_all

    for suffix, path in write_all(tmp_path).items():
        url = f"{server}/v1/ingest?filename={path.name}"
        done = httpx.post(url, content=path.read_bytes(), headers=auth, timeout=60).json()
        assert (done["documents"], done["errors"]) == (1, []), suffix
    project, budget = TABLES[".xlsx"][1]
    query = {"query": f"budget of the {project.lower()}", "k": 3}
    hits = httpx.post(f"{server}/v1/search", json=query, headers=auth).json()["data"]
    assert any(hit["doc_id"] == "upload/budget.xlsx" and budget in hit["text"] for hit in hits)
