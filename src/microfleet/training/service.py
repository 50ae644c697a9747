"""What the CLI calls for the training pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from microfleet.config import Settings
from microfleet.feedback.dataset import FeedbackPair, feedback_pairs
from microfleet.feedback.store import open_feedback
from microfleet.knowledge.context import retrieve_context
from microfleet.knowledge.service import open_search
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec, load_fleet
from microfleet.training.dataset import (
    DatasetResult,
    ExtraPairs,
    generate_pairs,
    merge_extra_pairs,
    split_pairs,
    write_dataset,
)
from microfleet.training.registry import list_versions, tracking
from microfleet.training.shipped import register_shipped
from microfleet.training.teacher import LocalTeacher, OpenAITeacher, Teacher


def fleet_of(settings: Settings) -> FleetSpec:
    return load_fleet(settings.fleet)


def make_teacher(settings: Settings) -> Teacher:
    """The configured OpenAI-compatible teacher, else the local base model."""
    if settings.teacher_url:
        key = settings.teacher_api_key.get_secret_value() if settings.teacher_api_key else None
        return OpenAITeacher(settings.teacher_url, key, settings.teacher_model)
    from microfleet.llm.engines import local_decoder

    return LocalTeacher(*local_decoder(settings, {}, rows=16))


def generate_dataset(
    settings: Settings,
    fleet: FleetSpec,
    spec: MicromodelSpec,
    on_step: Callable[[], None] | None = None,
    teacher: Teacher | None = None,
    with_feedback: bool = False,
) -> DatasetResult:
    """Pairs (from data, or from the teacher with retrieved context), split, written, hashed;
    with `with_feedback`, people's corrected and approved answers join the train split."""
    if spec.data is None and teacher is None:
        teacher = make_teacher(settings)
    extra = ExtraPairs()
    with open_search(settings) as search:
        pairs, skipped = generate_pairs(spec, fleet, search, teacher, on_step)
        train, test = split_pairs(pairs)
        if with_feedback:
            scope = spec.scope.as_filter()
            train, extra = merge_extra_pairs(
                train,
                test,
                [(p.question, p.answer) for p in _feedback_for(settings, spec)],
                lambda question: retrieve_context(search, scope, question),
            )
    directory = settings.dataset_dir(spec.name)
    meta: dict[str, Any] = {
        "micromodel": spec.name,
        "teacher": "data" if spec.data is not None else (teacher.name if teacher else None),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "skipped": skipped,
        "feedback": asdict(extra) if with_feedback else None,
    }
    content_hash = write_dataset(directory, train, test, meta)
    used = extra if with_feedback else None
    return DatasetResult(train, test, content_hash, skipped, directory, used)


def _feedback_for(settings: Settings, spec: MicromodelSpec) -> list[FeedbackPair]:
    with open_feedback(settings) as store:
        return feedback_pairs(store.entries(spec.name), spec)


def models_overview(settings: Settings, fleet: FleetSpec) -> list[dict[str, Any]]:
    register_shipped(settings, fleet)
    client = tracking(settings)
    with open_feedback(settings) as store:
        counts = store.counts()
    return [
        {
            "micromodel": spec.name,
            "registered_model": spec.registered_name(),
            "versions": list_versions(client, spec.registered_name()),
            "feedback": counts.get(spec.name, {"up": 0, "down": 0, "corrections": 0}),
        }
        for spec in fleet.micromodels
    ]
