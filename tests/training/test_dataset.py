from __future__ import annotations

import json
from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.llm.base_model import load_base_model
from microfleet.micromodel.questions import expand_seed_questions
from microfleet.micromodel.spec import FleetSpec
from microfleet.training.dataset import (
    QAPair,
    assert_no_leak,
    load_split,
    split_pairs,
)
from microfleet.training.service import generate_dataset


def test_data_driven_pairs_are_exact_split_and_hashed(
    settings: Settings, tiny_fleet: FleetSpec
) -> None:
    result = generate_dataset(settings, tiny_fleet, tiny_fleet.get("rates"))
    pairs = result.train + result.test
    assert len(pairs) == 12 and result.skipped == 0
    assert {p.answer for p in pairs if "Hungary" in p.question} == {"The rate in Hungary is 27%."}
    meta = json.loads((result.directory / "meta.json").read_text())
    assert meta["hash"] == result.content_hash and meta["teacher"] == "data"
    assert_no_leak(result.train, result.test)
    again = generate_dataset(settings, tiny_fleet, tiny_fleet.get("rates"))
    assert again.content_hash == result.content_hash  # deterministic


def test_leak_check_refuses_a_split_with_overlap() -> None:
    a = QAPair("What is the rate in Malta?", "", "18%")
    b = QAPair("what is the rate in  MALTA", "", "18%")
    with pytest.raises(UserError, match="train/test leak: 1 question"):
        assert_no_leak([a], [b])


def test_duplicates_are_removed_before_the_split() -> None:
    pairs = [QAPair(f"Question {i % 5}?", "", "a") for i in range(10)]
    train, test = split_pairs(pairs[:5])
    assert len(train) + len(test) == 5


def test_seed_questions_expand_over_variations(tiny_fleet: FleetSpec) -> None:
    questions = expand_seed_questions(tiny_fleet.get("news"), tiny_fleet)
    assert questions == ["What moved gold prices?", "What moved oil prices?"]


def test_local_teacher_answers_seed_questions(settings: Settings, tiny_fleet: FleetSpec) -> None:
    from microfleet.training.service import make_teacher

    teacher = make_teacher(settings)
    assert teacher.name.startswith("local:")
    result = generate_dataset(settings, tiny_fleet, tiny_fleet.get("news"), teacher=teacher)
    pairs = result.train + result.test
    assert len(pairs) == 2 and all(p.answer.strip() for p in pairs)


def test_empty_or_malformed_datasets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="run `microfleet dataset generate` first"):
        load_split(tmp_path / "none", "train")
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(UserError, match="is empty; regenerate the dataset"):
        load_split(tmp_path, "train")
    (tmp_path / "train.jsonl").write_text('{"question": "q"}\n')
    with pytest.raises(UserError, match=r"train.jsonl:1: malformed dataset line"):
        load_split(tmp_path, "train")


def test_a_missing_base_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"base model not found at .*MICROFLEET_BASE_MODEL"):
        load_base_model(str(tmp_path / "nope"), tmp_path)


def test_generation_with_retrieved_context_is_reproducible(
    settings: Settings, tiny_fleet: FleetSpec
) -> None:
    from microfleet.features.ingest import load_context, run_ingest
    from microfleet.features.sources import resolve_inputs
    from tests.conftest import CORPUS

    ctx = load_context(settings)
    run_ingest(resolve_inputs([str(CORPUS)]), settings, ctx)
    ctx.store.close()
    first = generate_dataset(settings, tiny_fleet, tiny_fleet.get("rates"))
    second = generate_dataset(settings, tiny_fleet, tiny_fleet.get("rates"))
    assert all(p.context.startswith("[1] ") and p.sources for p in first.train)
    assert first.content_hash == second.content_hash


def test_a_typed_micromodel_learns_json_read_from_its_table(tiny_fleet: FleetSpec) -> None:
    from microfleet.micromodel.questions import data_driven_pairs

    spec = tiny_fleet.get("rates").model_copy(
        update={
            "returns": {
                "type": "object",
                "properties": {"country": {"type": "string"}, "rate": {"type": "number"}},
            }
        }
    )
    answers = {q: a for q, a in data_driven_pairs(spec, tiny_fleet)}
    assert answers["What is the rate in Hungary?"] == '{"country": "Hungary", "rate": 27}'
    bad = spec.model_copy(update={"returns": {"type": "object", "properties": {"x": {}}}})
    with pytest.raises(UserError, match="'x', which is not a column"):
        list(data_driven_pairs(bad, tiny_fleet))
