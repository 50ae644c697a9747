"""Conversation memory: SQLite across a reopen, Redis when a redis-server binary is installed."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from microfleet.inference.memory import Memory, RedisMemory, SQLiteMemory

TURN = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_sqlite_memory_survives_a_reopen(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "memory.db")
    memory.append("s1", TURN)
    memory.append("s2", [{"role": "user", "content": "other"}])
    memory.close()
    reopened = SQLiteMemory(tmp_path / "memory.db")
    assert reopened.load("s1") == TURN
    assert reopened.load("s1", limit=1) == TURN[1:]
    assert reopened.load("nobody") == []


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not installed (apt-get install redis-server); Redis is optional"
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [binary, "--port", str(port), "--save", "", "--dir", str(tmp_path)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def test_redis_memory_is_shared_between_clients(redis_url: str) -> None:
    first: Memory = RedisMemory(redis_url)
    first.append("s1", TURN)
    second = RedisMemory(redis_url)  # another replica
    assert second.load("s1") == TURN
    assert second.load("s1", limit=1) == TURN[1:]
