"""`microfleet ask` and `microfleet chat` as real subprocesses: in-process and against a server."""

from __future__ import annotations

import json
import socket

import pytest

from microfleet.cli.serving import Session
from microfleet.config import Settings
from tests.cli.test_main import _run
from tests.conftest import KEY_A


def test_ask_json_against_a_server(server: str, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "MICROFLEET_API_KEY": KEY_A}
    result = _run(env, "ask", "Which company raised its dividend?", "--url", server, "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["answer"] and reply["sources"][0]["doc_id"] == "harbor-energy-dividend"


def test_ask_goes_to_the_fleet_by_default(server: str, subprocess_env: dict[str, str]) -> None:
    # The base model alone answered "24%" with the right source; the orchestrator's tax_rates
    # adapter answers 19.
    env = {**subprocess_env, "MICROFLEET_API_KEY": KEY_A}
    question = "What is the standard VAT rate in Germany?"
    result = _run(env, "ask", question, "--url", server, "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["trace"]["calls"][0]["data"] == {"country": "Germany", "rate": 19}
    assert "19%" in reply["answer"]


def test_ask_streams_then_lists_sources(server: str, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "MICROFLEET_API_KEY": KEY_A}
    result = _run(env, "ask", "What did the ECB decide?", "--url", server, "--max-tokens", "8")
    assert result.returncode == 0, result.stderr
    assert "  [1] ECB holds deposit rate at 2% as inflation settles" in result.stdout


def test_ask_in_process_without_a_knowledge_base(subprocess_env: dict[str, str]) -> None:
    result = _run(subprocess_env, "ask", "What is the capital of France?", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["sources"] == [] and "nothing in the knowledge base" in reply["answer"]
    result = _run(subprocess_env, "ask", "What is the capital of France?", "--no-rag", "--json")
    assert "Paris" in json.loads(result.stdout)["answer"]


def test_an_in_process_session_stops_its_engine_before_the_process_exits(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process that exited while the engine thread still decoded aborted in llama.cpp
    # ("terminate called without an active exception") after printing its answer.
    monkeypatch.setenv("MICROFLEET_MAX_BATCH", "2")
    with Session(None, None, 8, False, None) as session:
        reply = session.ask("What is the capital of France?", lambda _: None)
        engine = session._runtime.engine
        assert reply["answer"] and engine.alive
    assert not engine.alive and engine.failure == "closed"
    session.close()  # closing twice is harmless


def test_chat_keeps_the_conversation(server: str, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "MICROFLEET_API_KEY": KEY_A}
    turns = "The secret word is banana.\nWhat is the secret word?\nexit\n"
    result = _run(env, "chat", "--url", server, "--max-tokens", "12", stdin=turns)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("bot> ") == 2 and "session " in result.stderr
    assert "banana" in result.stdout.split("bot> ")[2]


def test_unreachable_server_and_wrong_key_are_one_line(
    server: str, subprocess_env: dict[str, str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = _run(subprocess_env, "ask", "hi", "--url", dead)
    assert result.returncode == 1 and "is `microfleet serve` running?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    wrong = {**subprocess_env, "MICROFLEET_API_KEY": "wrong"}
    result = _run(wrong, "ask", "hi", "--url", server)
    assert result.returncode == 1 and "401 missing or invalid API key" in result.stderr
