from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.errors import UserError
from microfleet.micromodel.spec import UnknownMicromodel, load_fleet
from tests.conftest import REPO


def test_the_finance_fleet_is_valid() -> None:
    fleet = load_fleet(REPO / "fleets" / "finance" / "fleet.yaml")
    tax = fleet.get("tax_rates")
    assert len(tax.parameters["properties"]["country"]["enum"]) == 27
    assert tax.data is not None and fleet.path(tax.data.table).exists()
    assert tax.registered_name() == "micromodel-tax_rates"
    assert tax.returns is not None and tax.returns["properties"]["rate"]["type"] == "number"
    assert tax.say({"country": "Malta", "rate": 18.0}) == "The standard VAT rate in Malta is 18%."
    called = tax.result_schema({"country": "Malta"}) or {}
    assert called["properties"]["country"]["const"] == "Malta"  # the result is about the call
    assert "const" not in called["properties"]["rate"] and "const" not in str(tax.returns)


def test_unknown_micromodel_names_the_known_ones() -> None:
    fleet = load_fleet(REPO / "fleets" / "finance" / "fleet.yaml")
    with pytest.raises(
        UnknownMicromodel, match="unknown micromodel 'x'; known: tax_rates, market_news"
    ):
        fleet.get("x")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("name: f\nmicromodels: []\n", "micromodels: List should have at least 1 item"),
        (
            "name: f\nmicromodels:\n  - {name: a, description: d, system_prompt: s, "
            "parameters: {type: string}}\n",
            "micromodels.0.parameters: must be a JSON schema of type 'object'",
        ),
        (
            "name: f\nmicromodels:\n  - {name: a, description: d, system_prompt: s, "
            "parameters: {type: object}, lora: {r: 0}}\n",
            "micromodels.0.lora.r",
        ),
        (
            "name: f\nmicromodels:\n  - {name: a, description: d, system_prompt: s, "
            "parameters: {type: object}, returns: {type: array}}\n",
            "micromodels.0.returns: must be a JSON schema of type 'object'",
        ),
        ("name: [unclosed\n", "not valid YAML"),
        (
            "name: f\ndocuments: {titles: [{when: '(unclosed', title: t}]}\nmicromodels:\n"
            "  - {name: a, description: d, system_prompt: s, parameters: {type: object}}\n",
            "documents.titles.0.when: not a valid regular expression",
        ),
        (
            "name: f\ndocuments: {titles: [{when: x, title: '{name}'}]}\nmicromodels:\n"
            "  - {name: a, description: d, system_prompt: s, parameters: {type: object}}\n",
            "documents.titles.0: title uses undeclared fields: name",
        ),
    ],
)
def test_invalid_specs_name_file_field_and_reason(tmp_path: Path, body: str, reason: str) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(body)
    with pytest.raises(UserError) as info:
        load_fleet(path)
    assert str(info.value).startswith(str(path))
    assert reason in str(info.value)
