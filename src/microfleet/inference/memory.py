"""Conversation memory per session: SQLite under the data dir, or Redis for many replicas."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

from microfleet.llm.generator import Messages

MAX_TURNS_KEPT = 200  # per session, in the store; the prompt window is cut by tokens later


class Memory(ABC):
    """Default: SQLiteMemory. Scale-out: RedisMemory (plain key-value, shared by replicas)."""

    @abstractmethod
    def load(self, session: str, limit: int = MAX_TURNS_KEPT) -> Messages:
        """The session's messages, oldest first (at most `limit`, the most recent)."""

    @abstractmethod
    def append(self, session: str, messages: Messages) -> None:
        """Add messages to the end of the session."""

    def close(self) -> None:
        return None


class SQLiteMemory(Memory):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "session TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, "
                "at REAL NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS by_session ON messages (session, id)")

    def load(self, session: str, limit: int = MAX_TURNS_KEPT) -> Messages:
        with self._lock:
            rows = self._db.execute(
                "SELECT role, content FROM messages WHERE session = ? ORDER BY id DESC LIMIT ?",
                (session, limit),
            ).fetchall()
        return [{"role": role, "content": content} for role, content in reversed(rows)]

    def append(self, session: str, messages: Messages) -> None:
        now = time.time()
        rows = [(session, m["role"], m["content"], now) for m in messages]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO messages (session, role, content, at) VALUES (?, ?, ?, ?)", rows
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisMemory(Memory):
    """One Redis list per session (`microfleet:memory:<session>`), trimmed to the last turns."""

    def __init__(self, url: str, ttl_seconds: int = 30 * 86400) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self.ttl = ttl_seconds

    def _key(self, session: str) -> str:
        return f"microfleet:memory:{session}"

    def load(self, session: str, limit: int = MAX_TURNS_KEPT) -> Messages:
        items = self._redis.lrange(self._key(session), -limit, -1)
        return [json.loads(item) for item in items]

    def append(self, session: str, messages: Messages) -> None:
        key = self._key(session)
        pipe = self._redis.pipeline()
        pipe.rpush(key, *[json.dumps(m) for m in messages])
        pipe.ltrim(key, -MAX_TURNS_KEPT, -1)
        pipe.expire(key, self.ttl)
        pipe.execute()

    def close(self) -> None:
        self._redis.close()
