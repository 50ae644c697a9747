"""Everything a serving process loads once: generators, knowledge base, memory, cache, tracer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from microfleet.config import Settings
from microfleet.features.chunking import load_generator_tokenizer
from microfleet.features.ingest import load_context
from microfleet.features.pipeline import PipelineContext
from microfleet.fleet.spec import FleetSpec, load_fleet
from microfleet.inference.assistant import AnswerOptions, Assistant, ModelRoute
from microfleet.inference.cache import CacheIndex, SemanticCache
from microfleet.inference.memory import Memory, RedisMemory, SQLiteMemory
from microfleet.inference.tracing import make_tracer
from microfleet.knowledge.connect import fusion_from
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.llm.local import BatchingEngine, LocalGenerator

BASE_MODEL_NAME = "smollm2-135m-instruct"


@dataclass
class Runtime:
    assistant: Assistant
    features: PipelineContext  # the feature pipeline's steps, for POST /v1/ingest
    base_name: str
    engine: BatchingEngine | None = None

    async def close(self) -> None:
        for route in self.assistant.routes.values():
            await route.generator.close()
        self.assistant.close()
        self.features.store.close()


def build_runtime(settings: Settings, with_micromodels: bool = True) -> Runtime:
    features = load_context(settings)
    fleet = load_fleet(settings.fleet) if with_micromodels and settings.fleet.exists() else None
    if settings.llm_url:
        routes, base, engine = _remote_routes(settings, fleet), _base_name(settings), None
    else:
        routes, base, engine = _local_routes(settings, fleet)
    search = KnowledgeSearch(
        features.store, features.embedder, features.sparse, fusion_from(settings)
    )
    tokenizer = load_generator_tokenizer(settings.model_cache_dir)
    assistant = Assistant(
        routes,
        search,
        lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids),
        _memory(settings),
        _cache(settings, features.embedder.dim) if settings.cache else None,
        make_tracer(settings),
        AnswerOptions(
            settings.rag_k,
            settings.rag_min_similarity,
            settings.context_window,
            settings.memory_tokens,
        ),
    )
    return Runtime(assistant, features, base, engine)


def _base_name(settings: Settings) -> str:
    return settings.llm_model or settings.base_model or BASE_MODEL_NAME


def _local_routes(
    settings: Settings, fleet: FleetSpec | None
) -> tuple[dict[str, ModelRoute], str, BatchingEngine]:
    from microfleet.llm.adapters import load_adapters
    from microfleet.llm.base_model import load_base_model

    model, tokenizer = load_base_model(
        settings.base_model, settings.model_cache_dir, dtype_name=settings.serve_dtype
    )
    versions: dict[str, str] = {}
    if fleet is not None:
        model, versions = load_adapters(settings, fleet, model)
    engine = BatchingEngine(model, tokenizer, max_batch=settings.max_batch)
    base = settings.base_model or BASE_MODEL_NAME
    routes = {base: ModelRoute(LocalGenerator(engine, base))}
    for name, version in versions.items():
        spec = fleet.get(name)  # type: ignore[union-attr]
        generator = LocalGenerator(engine, name, adapter=name, parent=base)
        routes[name] = ModelRoute(generator, spec.system_prompt, spec.scope.as_filter(), version)
    return routes, base, engine


def _remote_routes(settings: Settings, fleet: FleetSpec | None) -> dict[str, ModelRoute]:
    """The base model and every micromodel, served by name on the OpenAI-compatible server."""
    from microfleet.llm.openai_backend import OpenAIGenerator

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    url, base = str(settings.llm_url), _base_name(settings)
    timeout = settings.request_timeout_seconds
    routes = {base: ModelRoute(OpenAIGenerator(url, key, base, timeout=timeout), version="remote")}
    for spec in fleet.micromodels if fleet else []:
        generator = OpenAIGenerator(url, key, spec.name, parent=base, timeout=timeout)
        routes[spec.name] = ModelRoute(
            generator, spec.system_prompt, spec.scope.as_filter(), "remote"
        )
    return routes


def _memory(settings: Settings) -> Memory:
    if settings.redis_url:
        return RedisMemory(settings.redis_url)
    return SQLiteMemory(settings.memory_path)


def _cache(settings: Settings, dim: int) -> SemanticCache:
    index: CacheIndex
    if settings.qdrant_url:
        from qdrant_client import QdrantClient

        from microfleet.inference.cache import QdrantCacheIndex

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client: Any = QdrantClient(url=settings.qdrant_url, api_key=key)
        index = QdrantCacheIndex(client, f"{settings.collection}_answer_cache", dim)
    else:
        from microfleet.inference.cache import EdgeCacheIndex

        index = EdgeCacheIndex(settings.cache_dir, dim)
    return SemanticCache(index, settings.cache_ttl_seconds, settings.cache_threshold)
