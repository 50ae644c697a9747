"""Everything a serving process loads once: generators, knowledge base, memory, cache, tracer."""

from __future__ import annotations

from dataclasses import dataclass

from microfleet.config import Settings
from microfleet.core import threads
from microfleet.core.glossary import Glossary
from microfleet.errors import UserError
from microfleet.features.chunking import load_generator_tokenizer
from microfleet.features.ingest import load_context
from microfleet.features.pipeline import PipelineContext
from microfleet.feedback.store import FeedbackStore
from microfleet.fleet.constrained import ToolDecoder
from microfleet.fleet.orchestrator import FleetOptions, Orchestrator
from microfleet.fleet.reader import SentenceReader
from microfleet.fleet.router import Router, SemanticRouter, ToolCallingRouter
from microfleet.inference.assistant import Assistant
from microfleet.inference.cache import CacheIndex, SemanticCache
from microfleet.inference.memory import Memory, RedisMemory, SQLiteMemory
from microfleet.inference.tracing import make_tracer
from microfleet.inference.turns import AnswerOptions, ModelRoute
from microfleet.knowledge.connect import fusion_from, qdrant_client
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.llm.generator import Generator
from microfleet.llm.local import BatchingEngine, LocalGenerator
from microfleet.micromodel.spec import FLEET_MODEL, FleetSpec, load_fleet

BASE_MODEL_NAME = "smollm2-135m-instruct"


@dataclass
class Runtime:
    assistant: Assistant
    features: PipelineContext  # the feature pipeline's steps, for POST /v1/ingest
    base_name: str
    engine: BatchingEngine | None = None
    # Constrained decoding for clients that send their own `tools` (local model only).
    tool_decoder: ToolDecoder | None = None

    @property
    def default_model(self) -> str:
        """What a question without a model goes to: the orchestrator where the fleet has
        one (it answers plain questions by retrieval, as the base model would), else the base."""
        return FLEET_MODEL if FLEET_MODEL in self.assistant.routes else self.base_name

    async def close(self) -> None:
        for route in self.assistant.routes.values():
            await route.generator.close()
        self.assistant.close()
        self.features.store.close()


def build_runtime(settings: Settings, with_micromodels: bool = True) -> Runtime:
    if not settings.llm_url:
        threads.reserve_for_engine()  # before loading: see core/threads.py
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
    reader = SentenceReader(features.embedder, features.sparse) if settings.quote_sources else None
    orchestrator = _orchestrator(settings, fleet, routes, base, search, engine, reader)
    if orchestrator is not None:
        routes[FLEET_MODEL] = _fleet_route(orchestrator, routes[base].generator)
    assistant = Assistant(
        routes=routes,
        search=search,
        count_tokens=lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids),
        memory=_memory(settings),
        cache=_cache(settings, features) if settings.cache else None,
        tracer=make_tracer(settings),
        options=AnswerOptions(
            settings.rag_k,
            settings.rag_min_similarity,
            settings.rag_others_within,
            settings.context_window,
            settings.memory_tokens,
            settings.source_footer,
            settings.rag_quote_k,
        ),
        orchestrator=orchestrator,
        answers=FeedbackStore(settings.feedback_db_url),
        reader=reader,
        glossary=Glossary(fleet.glossary if fleet else None),
    )
    return Runtime(assistant, features, base, engine, ToolDecoder(engine) if engine else None)


def _orchestrator(
    settings: Settings,
    fleet: FleetSpec | None,
    routes: dict[str, ModelRoute],
    base: str,
    search: KnowledgeSearch,
    engine: BatchingEngine | None,
    reader: SentenceReader | None,
) -> Orchestrator | None:
    """The orchestrator behind the "fleet" model: every micromodel as a tool (the base model
    stands in for a missing adapter, and /readyz says so)."""
    if fleet is None:
        return None
    names = [spec.name for spec in fleet.micromodels if routes[spec.name].champion]
    generators = {name: routes[name].generator for name in names}
    options = FleetOptions(
        settings.tool_timeout_seconds, settings.tool_max_tokens, settings.rag_quote_k
    )
    router = make_router(settings, fleet, search, engine)
    versions = {name: routes[name].version for name in names}
    return Orchestrator(
        fleet=fleet,
        router=router,
        generators=generators,
        fallback=routes[base].generator,
        search=search,
        options=options,
        versions=versions,
        reader=reader,
    )


def _fleet_route(orchestrator: Orchestrator, composer: Generator) -> ModelRoute:
    """The "fleet" model: the base model composes; its version names every micromodel's."""
    scope = ",".join(f"{name}@{version}" for name, version in orchestrator.versions.items())
    return ModelRoute(composer, version=f"{FLEET_MODEL}[{scope}]")


def make_router(
    settings: Settings, fleet: FleetSpec, search: KnowledgeSearch, engine: BatchingEngine | None
) -> Router:
    def semantic() -> SemanticRouter:
        return SemanticRouter(
            fleet, search.embedder, settings.router_threshold, settings.router_margin
        )

    if settings.router == "semantic":
        return semantic()
    if engine is not None:  # the local model: JSON-schema-constrained tool calls
        from microfleet.fleet.constrained import ConstrainedRouter

        shortlist = semantic() if settings.router == "hybrid" else None
        return ConstrainedRouter(fleet, engine, shortlist)
    if settings.router == "hybrid":
        raise UserError("MICROFLEET_ROUTER=hybrid runs on the local model; use llm with LLM_URL")
    import openai

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused"
    client = openai.AsyncOpenAI(base_url=settings.llm_url, api_key=key)
    return ToolCallingRouter(fleet, client, _base_name(settings))


def _base_name(settings: Settings) -> str:
    return settings.llm_model or settings.base_model or BASE_MODEL_NAME


def _local_routes(
    settings: Settings, fleet: FleetSpec | None
) -> tuple[dict[str, ModelRoute], str, BatchingEngine]:
    from microfleet.inference.adapters import local_engine

    engine, versions = local_engine(settings, fleet)
    base = settings.base_model or BASE_MODEL_NAME
    routes = {base: ModelRoute(LocalGenerator(engine, base))}
    for spec in fleet.micromodels if fleet else []:
        champion = spec.name in versions  # loaded: it has an adapter
        adapter = spec.name if champion else None  # else the base model, with its prompt
        routes[spec.name] = ModelRoute(
            LocalGenerator(engine, spec.name, adapter=adapter, parent=base),
            spec.system_prompt,
            spec.scope.as_filter(),
            versions.get(spec.name, f"{base} (no adapter)"),
            champion,
        )
    return routes, base, engine


def _remote_routes(settings: Settings, fleet: FleetSpec | None) -> dict[str, ModelRoute]:
    """The base model and every micromodel, served by name on the OpenAI-compatible server."""
    from microfleet.llm.openai_backend import OpenAIGenerator, served_models

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    url, base = str(settings.llm_url), _base_name(settings)
    timeout = settings.request_timeout_seconds
    routes = {base: ModelRoute(OpenAIGenerator(url, key, base, timeout=timeout), version="remote")}
    served = served_models(url, key)  # None: not reachable now; every adapter is assumed
    for spec in fleet.micromodels if fleet else []:
        champion = served is None or spec.name in served  # else the base model stands in
        remote = spec.name if champion else base
        generator = OpenAIGenerator(url, key, spec.name, remote, parent=base, timeout=timeout)
        version = "remote" if champion else f"{base} (no adapter)"
        routes[spec.name] = ModelRoute(
            generator, spec.system_prompt, spec.scope.as_filter(), version, champion
        )
    return routes


def _memory(settings: Settings) -> Memory:
    if settings.redis_url:
        return RedisMemory(settings.redis_url)
    return SQLiteMemory(settings.memory_path)


def _cache(settings: Settings, features: PipelineContext) -> SemanticCache:
    index: CacheIndex
    dim = features.embedder.dim
    if settings.qdrant_url:  # a collection next to the knowledge base, on the same client
        from microfleet.inference.cache import QdrantCacheIndex

        collection = f"{settings.collection}_answer_cache"  # beside the knowledge base's
        index = QdrantCacheIndex(qdrant_client(settings), collection, dim)
    else:
        from microfleet.inference.cache import EdgeCacheIndex

        index = EdgeCacheIndex(settings.cache_dir, dim)
    return SemanticCache(index, settings.cache_ttl_seconds, settings.cache_threshold)
