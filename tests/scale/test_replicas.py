"""Two `microfleet serve` replicas behind one Redis: a conversation started on one continues on
the other, and one rate window counts the requests to both. Each replica has its own data dir
(the embedded Edge shard is single-process); these answers need no retrieval."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx

from tests.scale import engines

KEYS = ("key-one", "key-two")  # two tenants
LIMIT = 5  # requests per minute, per key, across the replicas


def _ask(url: str, key: str, session: str, text: str) -> httpx.Response:
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 24,
        "rag": False,
    }
    headers = {"Authorization": f"Bearer {key}", "X-Session-Id": session}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=120)


def test_two_replicas_share_memory_and_rate_limits(
    redis_server: str, models_dir: Path, tmp_path: Path
) -> None:
    import redis

    common = {
        "MICROFLEET_MODELS_DIR": str(models_dir),
        "MICROFLEET_API_KEYS": ",".join(KEYS),
        "MICROFLEET_REDIS_URL": redis_server,
        "MICROFLEET_RATE_LIMIT_STORAGE": redis_server,
        "MICROFLEET_RATE_LIMIT": f"{LIMIT}/minute",
        "MICROFLEET_MAX_BATCH": "4",
    }
    with contextlib.ExitStack() as stack:  # one after the other: the first prepares the models
        one = stack.enter_context(engines.serve({**common, "MICROFLEET_HOME": str(tmp_path / "a")}))
        two = stack.enter_context(engines.serve({**common, "MICROFLEET_HOME": str(tmp_path / "b")}))
        told = _ask(one, KEYS[0], "s1", "My name is Ada. Please remember my name.")
        asked = _ask(two, KEYS[0], "s1", "What is my name?")
        other = _ask(two, KEYS[1], "s1", "What is my name?")  # another tenant, same session id
        assert (told.status_code, asked.status_code, other.status_code) == (200, 200, 200)
        answer = asked.json()["choices"][0]["message"]["content"]
        assert "Ada" in answer, answer  # the second replica read the first one's turn

        stored = redis.Redis.from_url(redis_server, decode_responses=True)
        sessions = sorted(stored.scan_iter("microfleet:memory:*"))
        assert len(sessions) == 2  # one per tenant: the same session id is two sessions
        lengths = sorted(stored.llen(key) for key in sessions)
        assert lengths == [2, 4]  # the other tenant's session never saw Ada

        codes = [_ask(url, KEYS[0], "s2", "Hi").status_code for url in (one, two, one, two)]
        assert codes == [200, 200, 200, 429]  # the sixth request in the shared window
        assert _ask(one, KEYS[1], "s2", "Hi").status_code == 200  # per key
