"""Request tracing: off by default; with MICROFLEET_TRACING=true each answer becomes an MLflow
trace (retrieval hits, the final prompt, token counts, latency per step).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from microfleet.config import Settings
from microfleet.privacy import PiiRedactor


@dataclass
class TraceRecord:
    """What one answer did, collected as it runs and written once it ends."""

    model: str
    question: str
    started_ns: int = field(default_factory=time.time_ns)
    steps: list[tuple[str, int, int, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def step(self, name: str, started_ns: int, inputs: dict[str, Any], outputs: dict[str, Any]):
        self.steps.append((name, started_ns, time.time_ns(), inputs, outputs))


class Tracer:
    """The default: record nothing (prompts are not logged unless tracing is on)."""

    enabled = False

    def write(self, record: TraceRecord, answer: str, attributes: dict[str, Any]) -> None:
        return None


class MlflowTracer(Tracer):
    """Each answer as an MLflow trace; its text passes the deployment's PII redaction."""

    enabled = True

    def __init__(self, settings: Settings) -> None:
        from microfleet.training.registry import tracking

        self.redactor = PiiRedactor(settings.pii_entities)
        client = tracking(settings)
        found = client.get_experiment_by_name("microfleet-serving")
        self.experiment_id = (
            found.experiment_id
            if found
            else client.create_experiment(
                "microfleet-serving",
                artifact_location=None if settings.mlflow_uri else settings.artifact_dir.as_uri(),
            )
        )

    def write(self, record: TraceRecord, answer: str, attributes: dict[str, Any]) -> None:
        import mlflow

        clean = self.redactor.redact_data
        root = mlflow.start_span_no_context(
            "chat",
            span_type="CHAIN",
            inputs={"model": record.model, "question": clean(record.question)},
            attributes={k: str(v) for k, v in attributes.items()},
            experiment_id=self.experiment_id,
            start_time_ns=record.started_ns,
        )
        for name, start, end, inputs, outputs in record.steps:
            kind = "RETRIEVER" if name == "retrieve" else "LLM" if name == "generate" else "UNKNOWN"
            span = mlflow.start_span_no_context(
                name, span_type=kind, parent_span=root, inputs=clean(inputs), start_time_ns=start
            )
            span.end(outputs=clean(outputs), end_time_ns=end)
        root.end(outputs={"answer": clean(answer)})


def make_tracer(settings: Settings) -> Tracer:
    return MlflowTracer(settings) if settings.tracing else Tracer()
