"""The questions a micromodel is asked: its seed questions, expanded over their variations,
and for a data-driven micromodel every row of its table under every question template, with
the answer read off the row. Training, evaluation and routing all read them from here."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from typing import Any

from microfleet.errors import UserError
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec


def expand_seed_questions(spec: MicromodelSpec, fleet: FleetSpec) -> list[str]:
    """Lines of the seed file; `{var}` placeholders expand over the spec's variations."""
    if not spec.seed_questions:
        return []
    path = fleet.path(spec.seed_questions)
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise UserError(f"cannot read seed questions {path}: {exc.strerror}") from None
    questions: list[str] = []
    names = list(spec.variations)
    for line in filter(None, lines):
        used = [n for n in names if "{" + n + "}" in line]
        for values in itertools.product(*(spec.variations[n] for n in used)):
            questions.append(line.format_map(dict(zip(used, values, strict=True))))
    return questions


def data_rows(spec: MicromodelSpec, fleet: FleetSpec) -> list[dict[str, str]]:
    """The rows of a data-driven micromodel's table (none without one)."""
    if spec.data is None:
        return []
    path = fleet.path(spec.data.table)
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except OSError as exc:
        raise UserError(f"cannot read data table {path}: {exc.strerror}") from None
    if not rows:
        raise UserError(f"data table {path} has no rows")
    return rows


def data_driven_pairs(spec: MicromodelSpec, fleet: FleetSpec) -> Iterator[tuple[str, str]]:
    """(question, answer) for every table row and question template: correct by construction."""
    assert spec.data is not None
    path = fleet.path(spec.data.table)
    for row in data_rows(spec, fleet):
        for template in spec.data.questions:
            try:
                yield template.format_map(row), _row_answer(spec, row)
            except KeyError as exc:
                raise UserError(f"{path}: template uses {exc}, which is not a column") from None


def _row_answer(spec: MicromodelSpec, row: dict[str, str]) -> str:
    """The reference answer for one table row: JSON under `returns` when the spec types its
    results (each property read from the column of the same name), else the answer template."""
    assert spec.data is not None
    if spec.returns is None:
        return spec.data.answer.format_map(row)
    properties = spec.returns.get("properties", {})
    return json.dumps({name: _typed(row[name], p) for name, p in properties.items()})


def _typed(text: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            value = float(text)
            return int(value) if value.is_integer() else value
    except ValueError:
        raise UserError(f"'{text}' is not a {kind}, as the returns schema says") from None
    if kind == "boolean":
        return text.strip().lower() in {"1", "true", "yes"}
    return text


def example_questions(spec: MicromodelSpec, fleet: FleetSpec, limit: int = 40) -> list[str]:
    """Questions it answers, as the router learns them: each data template once (filled with
    the table's first row), else the first `limit` seed questions."""
    if spec.data is not None:
        row = data_rows(spec, fleet)[0]
        return [template.format_map(row) for template in spec.data.questions]
    return expand_seed_questions(spec, fleet)[:limit]
