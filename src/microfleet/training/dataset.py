"""Dataset generation: seed questions (or a data table) + retrieved context -> Q&A pairs.

Output per micromodel under HOME/datasets/<name>/: train.jsonl and test.jsonl with
{question, context, answer, sources}, and meta.json with the content hash and the counts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from microfleet.errors import UserError
from microfleet.knowledge.context import retrieve_context
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.micromodel.prompt import build_messages
from microfleet.micromodel.questions import data_driven_pairs, expand_seed_questions
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec
from microfleet.training.teacher import Teacher


@dataclass
class QAPair:
    question: str
    context: str
    answer: str
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DatasetResult:
    train: list[QAPair]
    test: list[QAPair]
    content_hash: str
    skipped: int
    directory: Path
    feedback: ExtraPairs | None = None


def normalize_question(text: str) -> str:
    return re.sub(r"[^a-z0-9% ]+", "", re.sub(r"\s+", " ", text.lower())).strip()


def generate_pairs(
    spec: MicromodelSpec,
    fleet: FleetSpec,
    search: KnowledgeSearch,
    teacher: Teacher | None,
    on_step: Callable[[], None] | None = None,
    batch: int = 8,
) -> tuple[list[QAPair], int]:
    """All pairs for one micromodel, deduplicated by normalised question, and the skip count.
    The teacher answers `batch` questions at a time."""
    if spec.data is not None:
        items: list[tuple[str, str | None]] = list(data_driven_pairs(spec, fleet))
    else:
        items = [(q, None) for q in expand_seed_questions(spec, fleet)]
    if not items:
        raise UserError(f"micromodel '{spec.name}' has no seed questions and no data table")
    first: dict[str, tuple[str, str | None]] = {}
    for question, answer in items:
        first.setdefault(normalize_question(question), (question, answer))
    unique = list(first.values())
    pairs: list[QAPair] = []
    for start in range(0, len(unique), batch):
        pairs += _answered(spec, search, teacher, unique[start : start + batch], on_step)
    skipped = len(unique) - len(pairs)
    if not pairs and skipped:
        raise UserError(
            f"the teacher failed on all {skipped} questions; check that it is up "
            "(MICROFLEET_TEACHER_URL) or unset it to use the local model"
        )
    return pairs, skipped


def _answered(
    spec: MicromodelSpec,
    search: KnowledgeSearch,
    teacher: Teacher | None,
    items: list[tuple[str, str | None]],
    on_step: Callable[[], None] | None,
) -> list[QAPair]:
    """Context for each question, then the teacher's answers where the data gives none."""
    contexts = [retrieve_context(search, spec.scope.as_filter(), q) for q, _ in items]
    asked = [i for i, (_, answer) in enumerate(items) if answer is None]
    answers = [answer for _, answer in items]
    if asked:
        if teacher is None:
            raise UserError(f"micromodel '{spec.name}' needs a teacher for its seed questions")
        chats = [build_messages(spec.system_prompt, items[i][0], contexts[i][0]) for i in asked]
        for i, answer in zip(asked, teacher.answer_all(chats), strict=True):
            answers[i] = answer or None
    pairs = []
    for (question, _), (context, sources), answer in zip(items, contexts, answers, strict=True):
        if answer is not None:
            pairs.append(QAPair(question, context, answer, sources))
        if on_step:
            on_step()
    return pairs


def split_pairs(
    pairs: list[QAPair], test_fraction: float = 0.2
) -> tuple[list[QAPair], list[QAPair]]:
    """A deterministic split (by question hash) with no question in both halves."""
    ordered = sorted(
        pairs, key=lambda p: hashlib.sha256(normalize_question(p.question).encode()).hexdigest()
    )
    n_test = max(1, round(len(ordered) * test_fraction)) if len(ordered) > 1 else 0
    test, train = ordered[:n_test], ordered[n_test:]
    assert_no_leak(train, test)
    return train, test


def assert_no_leak(train: list[QAPair], test: list[QAPair]) -> None:
    overlap = {normalize_question(p.question) for p in train} & {
        normalize_question(p.question) for p in test
    }
    if overlap:
        example = next(iter(overlap))
        raise UserError(
            f"train/test leak: {len(overlap)} question(s) in both splits, e.g. '{example}'"
        )


@dataclass
class ExtraPairs:
    """How pairs from outside the generator (human feedback) went into the splits."""

    added: int = 0
    replaced: int = 0  # a generated train pair for the same question, now answered by a person
    held_out: int = 0  # the question is in the test split: kept out of training, no leak
    duplicates: int = 0  # an older answer to a question that newer feedback answers


def merge_extra_pairs(
    train: list[QAPair],
    test: list[QAPair],
    extra: list[tuple[str, str]],
    context_for: Callable[[str], tuple[str, list[dict[str, Any]]]],
) -> tuple[list[QAPair], ExtraPairs]:
    """`train` with `extra` (question, answer) pairs, newest first, added to it only."""
    report = ExtraPairs()
    in_test = {normalize_question(p.question) for p in test}
    index = {normalize_question(p.question): i for i, p in enumerate(train)}
    merged, seen = list(train), set()
    for question, answer in extra:
        key = normalize_question(question)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        if key in in_test:
            report.held_out += 1
            continue
        context, sources = context_for(question)
        pair = QAPair(question, context, answer, sources)
        if key in index:
            merged[index[key]] = pair
            report.replaced += 1
        else:
            merged.append(pair)
            report.added += 1
    assert_no_leak(merged, test)
    return merged, report


def write_dataset(
    directory: Path, train: list[QAPair], test: list[QAPair], meta: dict[str, Any]
) -> str:
    """Write both splits and meta.json; returns the content hash of the two splits."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for name, rows in (("train", train), ("test", test)):
        text = "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in rows)
        (directory / f"{name}.jsonl").write_text(text, encoding="utf-8")
        digest.update(text.encode("utf-8"))
    content_hash = digest.hexdigest()[:16]
    meta = {**meta, "hash": content_hash, "train": len(train), "test": len(test)}
    (directory / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return content_hash


def load_split(directory: Path, name: str) -> list[QAPair]:
    """Read one split back, refusing an empty or malformed file with a clear reason."""
    path = directory / f"{name}.jsonl"
    if not path.exists():
        raise UserError(f"no dataset at {directory}; run `microfleet dataset generate` first")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            pairs.append(QAPair(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise UserError(f"{path}:{number}: malformed dataset line ({exc})") from None
    if not pairs:
        raise UserError(f"{path} is empty; regenerate the dataset")
    return pairs
