"""One Settings object: argument, then env MICROFLEET_*, then a default under MICROFLEET_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from microfleet.privacy import DEFAULT_ENTITIES

Fusion = Literal["rrf", "weighted_rrf", "dbsf"]


class Settings(BaseSettings):
    """All configuration. Read once at the edge (CLI, server) and passed in."""

    # An empty variable is an unset one: `MICROFLEET_HOME=` keeps the data dir, not the cwd.
    model_config = SettingsConfigDict(
        env_prefix="MICROFLEET_", extra="ignore", env_ignore_empty=True
    )

    home: Path = Field(default=Path(".microfleet"), description="Data directory for all state.")

    # Vector store: Qdrant Edge under home by default, a Qdrant server when qdrant_url is set.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    collection: str = "knowledge"

    # Models: bundled packages by default; any local sentence-transformers path otherwise.
    embedding_model: str | None = None
    models_dir: Path | None = Field(
        default=None, description="Where extracted model files are cached; default HOME/models."
    )
    embed_batch_size: int = Field(default=32, ge=1)
    embedding_runtime: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="What runs the embedding model: ONNX Runtime (its graph exported once "
        "into the models dir; about twice torch's speed on CPU) or torch.",
    )

    # Chunking, counted in the generator's (SmolLM2) tokens.
    chunk_tokens: int = Field(default=192, ge=16)
    chunk_overlap: int = Field(default=32, ge=0)

    # Feature pipeline.
    workers: int = Field(default=1, ge=1)
    batch_docs: int = Field(
        default=256, ge=1, description="Documents per pipeline batch; larger batches embed faster."
    )
    max_document_mb: float = Field(default=10.0, gt=0)
    epoch_seconds: float = Field(default=1.0, gt=0)
    feed_poll_seconds: float = Field(default=60.0, gt=0)
    http_timeout_seconds: float = Field(default=20.0, gt=0)
    ws_idle_seconds: float = Field(
        default=10.0, gt=0, description="Without --follow, stop a WebSocket after this much quiet."
    )

    # Alpaca news WebSocket. Secrets never have a default.
    alpaca_news_url: str = "wss://stream.data.alpaca.markets/v1beta1/news"
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_symbols: list[str] = Field(default_factory=lambda: ["*"])

    # Fleet and training.
    fleet: Path = Field(default=Path("fleets/finance/fleet.yaml"), description="The fleet file.")
    base_model: str | None = Field(
        default=None, description="A causal-LM directory or hub id; default: the bundled SmolLM2."
    )
    mlflow_uri: str | None = Field(
        default=None, description="An MLflow tracking server; default: SQLite under HOME."
    )
    teacher_url: str | None = Field(
        default=None, description="OpenAI-compatible teacher base URL; default: the local model."
    )
    teacher_api_key: SecretStr | None = None
    teacher_model: str = "gpt-4o-mini"
    micromodel_versions: dict[str, str] = Field(
        default_factory=dict,
        description='Pin served adapters, e.g. {"news": "3"}; default: each one\'s champion.',
    )

    # Serving: generation. A local model by default; any OpenAI-compatible server with llm_url
    # (vLLM --enable-lora or LoRAX serve each micromodel under its own name).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_tokens_cap: int = Field(default=1024, ge=1)
    engine: Literal["auto", "llama.cpp", "transformers"] = Field(
        default="auto",
        description="Local generation: auto runs the bundled GGUF on llama.cpp, and a "
        "base_model directory or hub id on transformers.",
    )
    llm_threads: int = Field(
        default=0,
        ge=0,
        description="llama.cpp threads for passes of several tokens (0: every core).",
    )
    serve_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="transformers: bf16 where the CPU or GPU supports it, else fp32.",
    )
    max_batch: int = Field(
        default=32,
        ge=1,
        description="Requests generated together (27 fan-out calls in one batch); llama.cpp "
        "keeps a KV cache of context_window tokens for each, in a context for the base model "
        "and one for each adapter in use (about 1.5 GB each at the defaults).",
    )
    context_window: int = Field(default=2048, ge=256, description="Prompt + answer tokens.")
    llm_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = Field(default=None, description="The base model's name on llm_url.")

    # Serving: grounding, memory, cache.
    rag: bool = Field(default=True, description="Ground answers in the knowledge base.")
    rag_k: int = Field(default=3, ge=1)
    rag_quote_k: int = Field(
        default=5,
        ge=1,
        description="Chunks whose sentences the fleet reads when it answers by quoting its "
        "sources (a filing's table often ranks 4th or 5th); the model's context keeps rag_k.",
    )
    rag_min_similarity: float = Field(default=0.3, ge=-1, le=1)
    rag_others_within: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="A chunk of another document than the closest chunk's is a source only "
        "when its similarity reaches this share of the closest chunk's.",
    )
    memory_tokens: int = Field(default=1024, ge=0, description="History kept in the prompt.")
    redis_url: str | None = Field(default=None, description="Memory in Redis (many replicas).")
    cache: bool = True
    cache_ttl_seconds: float = Field(default=3600.0, gt=0)
    cache_threshold: float = Field(default=0.95, gt=0, le=1)
    feedback_url: str | None = Field(
        default=None,
        description="Answers and ratings: any SQLAlchemy URL (postgresql+psycopg://...); "
        "default: SQLite under the data dir.",
    )

    # The orchestrator (model "fleet"): routing and micromodel calls.
    router: Literal["semantic", "llm", "hybrid"] = Field(
        default="semantic",
        description="semantic: MiniLM; llm: tool calls by the model (native on llm_url, else "
        "JSON-schema-constrained locally); hybrid: semantic shortlist, then llm.",
    )
    router_threshold: float = Field(default=0.42, ge=-1, le=1)
    router_margin: float = Field(default=0.1, ge=0)
    tool_timeout_seconds: float = Field(default=60.0, gt=0)
    tool_max_tokens: int = Field(default=48, ge=1)

    # Serving: security and limits.
    api_keys: SecretStr | None = Field(
        default=None,
        description="When set, every route but health needs a key. 'k1,k2': each key its own "
        "tenant with every scope; 'k1=acme:chat,ingest;k2=beta:chat': tenants and scopes.",
    )
    kb_visibility: Literal["tenant", "shared"] = Field(
        default="tenant",
        description="tenant: each tenant reads the operator's documents and its own; shared: "
        "every tenant reads every document. Only a document's owner may replace it.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins of other sites allowed to call the API.",
    )
    max_body_kb: int = Field(default=1024, ge=1)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    drain_seconds: float = Field(
        default=20.0, ge=0, description="On SIGTERM, how long open streams may finish."
    )
    rate_limit: str = Field(default="120/minute", description="Per key (limits syntax).")
    auth_failure_limit: str = Field(
        default="20/minute", description="Invalid keys per client address before a 429."
    )
    rate_limit_storage: str = Field(default="memory://", description="e.g. redis://host:6379")
    request_timeout_seconds: float = Field(default=120.0, gt=0)
    quote_sources: bool = Field(
        default=True,
        description="Where no fine-tuned micromodel answers, the fleet answers with the "
        "sentences of its sources that answer the question, not the base model's words.",
    )
    source_footer: bool = Field(
        default=False,
        description="Append 'Sources: [1] ...' to an answer's text when it cites none inline, "
        "for clients that show only the text; sources always travel in `sources`.",
    )
    access_log: bool = Field(
        default=True,
        description="One line per request on stderr (method, path, status, latency, model, "
        "tokens); never a prompt, a header or the query string.",
    )
    tracing: bool = Field(default=False, description="MLflow traces with prompts and hits.")
    injection_screen: bool = Field(
        default=True,
        description="Screen ingested chunks and questions for prompt injections.",
    )
    injection_threshold: float | None = Field(
        default=None, ge=0, le=1, description="The screen's cut-off; default: the shipped one."
    )
    injection_action: Literal["refuse", "no_tools"] = Field(
        default="refuse",
        description="A flagged question: refuse it, or answer it without tools or micromodels.",
    )
    pii_entities: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ENTITIES),
        description="Redacted in traces, logs and exported feedback (comma-separated; "
        "empty: off): " + ", ".join(DEFAULT_ENTITIES),
    )

    # Hybrid search.
    fusion: Fusion = "rrf"
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, gt=0)
    sparse_weight: float = Field(default=1.0, gt=0)
    prefetch_limit: int = Field(default=40, ge=1)

    @field_validator("cors_origins", "pii_entities", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @property
    def shard_dir(self) -> Path:
        return self.home / "qdrant" / self.collection

    @property
    def dead_letter_path(self) -> Path:
        return self.home / "dead_letter.jsonl"

    @property
    def journal_dir(self) -> Path:
        return self.home / "write_journal" / self.collection

    @property
    def recovery_root(self) -> Path:
        return self.home / "recovery"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifact_dir(self) -> Path:
        return (self.home / "mlartifacts").resolve()

    def dataset_dir(self, micromodel: str) -> Path:
        return self.home / "datasets" / micromodel

    @property
    def memory_path(self) -> Path:
        return self.home / "memory.db"

    @property
    def feedback_db_url(self) -> str:
        return self.feedback_url or f"sqlite:///{(self.home / 'feedback.db').resolve()}"

    @property
    def cache_dir(self) -> Path:
        return self.home / "qdrant" / f"{self.collection}_answer_cache"

    def api_keys_text(self) -> str:
        return self.api_keys.get_secret_value().strip() if self.api_keys else ""

    @property
    def model_cache_dir(self) -> Path:
        return self.models_dir or self.home / "models"
