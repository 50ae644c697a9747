"""The answer cache on a real Edge shard and on qdrant-client (the server API), with MiniLM."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from microfleet.inference.cache import (
    CacheIndex,
    CacheKey,
    EdgeCacheIndex,
    QdrantCacheIndex,
    SemanticCache,
    guard,
)
from microfleet.knowledge.embedding import load_embedder


@pytest.fixture(scope="module")
def embed() -> Callable[[str], list[float]]:
    embedder = load_embedder(None, 32)
    return lambda text: embedder.embed([text])[0].tolist()


@pytest.fixture(params=["edge", "qdrant-client"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> CacheIndex:
    if request.param == "edge":
        return EdgeCacheIndex(tmp_path / "cache", 384)
    from qdrant_client import QdrantClient

    return QdrantCacheIndex(QdrantClient(path=str(tmp_path / "local")), "answers", 384)


def key(question: str, tenant: str = "t1", kb: str = "1") -> CacheKey:
    return CacheKey(tenant, "base@v1", kb, "[]", question, "[64]")


def _put(cache: SemanticCache, question: str, embed: Callable[[str], list[float]], **kw: str):
    cache.store(key(question, **kw), embed(question), {"text": f"about {question}", "sources": []})


def test_exact_then_semantic_then_miss(index: CacheIndex, embed: Callable[[str], list[float]]):
    cache = SemanticCache(index)
    _put(cache, "What is the standard VAT rate in France?", embed)
    exact = cache.lookup(key("what is the standard  VAT rate in France"), lambda: [])
    assert exact is not None and exact[0] == "exact"
    paraphrase = "Tell me the standard VAT rate of France"
    semantic = cache.lookup(key(paraphrase), lambda: embed(paraphrase))
    assert semantic is not None and semantic[0] == "semantic"
    other = "What is the standard VAT rate in Germany?"
    assert cache.lookup(key(other), lambda: embed(other)) is None
    assert (cache.stats.exact_hits, cache.stats.semantic_hits, cache.stats.misses) == (1, 1, 1)


def test_negation_tenant_kb_version_and_ttl_scope_hits(
    index: CacheIndex, embed: Callable[[str], list[float]]
) -> None:
    cache = SemanticCache(index, ttl_seconds=2)
    allowed, forbidden = (
        "Is crypto staking allowed in the EU?",
        "Is crypto staking not allowed in the EU?",
    )
    _put(cache, allowed, embed)
    assert cache.lookup(key(forbidden), lambda: embed(forbidden)) is None
    assert cache.lookup(key(allowed, tenant="t2"), lambda: embed(allowed)) is None
    assert cache.lookup(key(allowed, kb="2"), lambda: embed(allowed)) is None
    assert cache.lookup(key(allowed), lambda: embed(allowed)) is not None
    time.sleep(2.1)
    assert cache.lookup(key(allowed), lambda: embed(allowed)) is None  # expired


def test_guard_keeps_negations_and_numbers() -> None:
    assert guard("Is X allowed?") != guard("Is X not allowed?")
    assert guard("Isn't X allowed?") == guard("Is X not allowed?")
    assert guard("VAT in 2024") != guard("VAT in 2025")
    assert guard("What is the VAT in France?") == guard("what is the vat in france")


def test_guard_keeps_comparisons_sides_and_series_members() -> None:
    # Each pair embeds at 0.95 or more with MiniLM, above the default threshold.
    for one, other in [
        ("Which EU country has the lowest VAT rate?", "Which EU country has the highest VAT rate?"),
        ("Which charge more than France?", "Which charge less than France?"),
        ("Did revenue increase?", "Did revenue decrease?"),
        ("Oil prices before the meeting?", "Oil prices after the meeting?"),
        ("Revenue in the first quarter?", "Revenue in the second quarter?"),
        ("Net income in June?", "Net income in March?"),
        ("The average rate?", "The median rate?"),
        ("Revenue in Q2?", "Revenue in Q3?"),
    ]:
        assert guard(one) != guard(other), (one, other)
    assert guard("the cheapest country?") == guard("the lowest-priced country?")
    assert guard("Which EU nation has the lowest VAT?") == guard("Which country has lowest VAT")


def test_a_semantic_hit_never_answers_the_opposite_comparison(
    index: CacheIndex, embed: Callable[[str], list[float]]
) -> None:
    cache = SemanticCache(index)
    lowest, highest = (
        "Which EU country has the lowest VAT rate?",
        "Which EU country has the highest VAT rate?",
    )
    _put(cache, lowest, embed)
    assert cache.lookup(key(highest), lambda: embed(highest)) is None
    paraphrase = "Which EU nation has the lowest VAT rate?"
    assert cache.lookup(key(paraphrase), lambda: embed(paraphrase)) is not None


def test_an_answer_cached_by_other_code_is_not_served(
    index: CacheIndex, embed: Callable[[str], list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from microfleet.inference import cache as cache_module

    cache = SemanticCache(index)
    question = "Which EU country has the second highest VAT rate?"
    _put(cache, question, embed)
    assert cache.lookup(key(question), lambda: embed(question)) is not None
    monkeypatch.setattr(cache_module, "code_version", lambda: "an upgrade")
    assert cache.lookup(key(question), lambda: embed(question)) is None
