"""The semantic router on the labelled routing set, argument filling and call validation."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.fleet.router import SemanticRouter, fill_arguments, validate
from microfleet.knowledge.embedding import load_embedder
from microfleet.micromodel.spec import FleetSpec, load_fleet
from tests.conftest import REPO

FLEET = REPO / "fleets" / "finance" / "fleet.yaml"
ROUTING = REPO / "fleets" / "finance" / "routing.jsonl"
EU27 = 27

# Measured on the 78 labelled questions (20 need no micromodel, 12 of them country or general
# questions added with the value masking): 76/78 (0.97) with the default threshold 0.42 and
# margin 0.1, the lowest threshold that keeps every off-topic question from a micromodel (0.30-0.50
# all give 64/66 on the first 66). The floor sits below that, so a real regression fails.
ROUTING_FLOOR = 0.85

THRESHOLD = Settings.model_fields["router_threshold"].default


@pytest.fixture(scope="module")
def fleet() -> FleetSpec:
    return load_fleet(FLEET)


@pytest.fixture(scope="module")
def router(fleet: FleetSpec) -> SemanticRouter:
    return SemanticRouter(fleet, load_embedder(None), threshold=THRESHOLD, margin=0.1)


def test_routing_accuracy_on_the_labelled_set(router: SemanticRouter) -> None:
    rows = [json.loads(line) for line in ROUTING.read_text().splitlines()]
    assert len(rows) >= 60
    names_ok = arguments_ok = with_tax = 0
    for row in rows:
        plan = asyncio.run(router.plan(row["question"]))
        names_ok += {c["name"] for c in row["calls"]} == {c.name for c in plan.calls}
        wanted = {c["arguments"]["country"] for c in row["calls"] if c["name"] == "tax_rates"}
        if wanted:
            with_tax += 1
            got = {c.arguments.get("country") for c in plan.calls if c.name == "tax_rates"}
            arguments_ok += wanted == got
    assert names_ok / len(rows) >= ROUTING_FLOOR
    assert arguments_ok / with_tax >= ROUTING_FLOOR


def test_eu_question_fans_out_and_pairs_call_exactly_two(router: SemanticRouter) -> None:
    eu = asyncio.run(router.plan("What are the VAT rates across the EU?"))
    assert [c.name for c in eu.calls] == ["tax_rates"] * EU27
    assert len({c.arguments["country"] for c in eu.calls}) == EU27
    pair = asyncio.run(router.plan("Which has the lower standard VAT rate, Germany or France?"))
    assert sorted(c.arguments["country"] for c in pair.calls) == ["France", "Germany"]


def test_invalid_calls_are_refused_with_a_reason(fleet: FleetSpec) -> None:
    assert validate(fleet, "tax_rates", {"country": "France"}) is None
    assert "is not one of" in str(validate(fleet, "tax_rates", {"country": "Narnia"}))
    assert "'country' is a required property" in str(validate(fleet, "tax_rates", {}))
    assert validate(fleet, "nope", {}) == "unknown micromodel 'nope'"
    assert validate(fleet, "market_news", "oil") == "arguments must be a JSON object"


def test_argument_filling_from_the_schema_and_the_specs_fill(fleet: FleetSpec) -> None:
    assert fill_arguments(fleet.get("tax_rates"), "Is VAT high in Malta?") == [{"country": "Malta"}]
    news = fill_arguments(fleet.get("market_news"), "What moved $NWSC and HALB today?")
    assert news == [{"topic": "What moved $NWSC and HALB today?", "symbols": ["NWSC", "HALB"]}]
    plain = "What did the ECB and the EU decide on VAT?"
    assert fill_arguments(fleet.get("market_news"), plain) == [{"topic": plain}]  # excluded
    pair = fill_arguments(fleet.get("tax_rates"), "VAT in the Czech Republic or Holland?")
    assert pair == [{"country": "Czechia"}, {"country": "Netherlands"}]  # the spec's aliases
    assert len(fill_arguments(fleet.get("tax_rates"), "VAT across Europe, lowest?")) == EU27
    assert len(fill_arguments(fleet.get("tax_rates"), "The mean VAT across the union?")) == EU27
    baltic = fill_arguments(fleet.get("tax_rates"), "Rank the Baltic states by VAT rate.")
    assert baltic == [{"country": c} for c in ("Estonia", "Latvia", "Lithuania")]  # a group
    assert fleet.get("tax_rates").as_tool()["function"]["parameters"]["required"] == ["country"]


def test_a_value_named_to_measure_all_others_against_fans_out(fleet: FleetSpec) -> None:
    tax = fleet.get("tax_rates")
    assert (
        len(fill_arguments(tax, "Which member states have a lower VAT rate than France?")) == EU27
    )
    assert len(fill_arguments(tax, "Is Germany's VAT above the EU average?")) == EU27
    others = "How does Germany's VAT rate compare with other EU countries?"
    assert len(fill_arguments(tax, others)) == EU27
    at_an_end = "Is Hungary's VAT rate the highest in the EU?"
    assert len(fill_arguments(tax, at_an_end)) == EU27
    assert len(fill_arguments(tax, "Is the Hungarian VAT rate the highest in the EU?")) == EU27
    assert fill_arguments(tax, "What is the German VAT rate?") == [{"country": "Germany"}]
    alone = "What is the VAT rate in Germany, an EU member state?"
    assert fill_arguments(tax, alone) == [{"country": "Germany"}]
    pair = "Which EU member state has the lower VAT rate, Germany or France?"
    assert fill_arguments(tax, pair) == [{"country": "France"}, {"country": "Germany"}]


def test_a_fill_must_name_a_parameter_and_its_values(tmp_path: Path) -> None:
    spec = {
        "name": "m",
        "description": "d",
        "system_prompt": "s",
        "parameters": {"type": "object", "properties": {"c": {"type": "string", "enum": ["A"]}}},
    }
    for fill, error in [
        ({"x": {}}, "fill: 'x' is not one of the parameters"),
        ({"c": {"aliases": {"B": "Z"}}}, "fill.c.aliases: 'Z' is not one of its values"),
        ({"c": {"aliases": {"G": ["A", "Y"]}}}, "fill.c.aliases: 'Y' is not one of its values"),
        ({"c": {"every": ["(unclosed"]}}, "not a valid regular expression"),
    ]:
        path = tmp_path / "fleet.yaml"
        path.write_text(json.dumps({"name": "f", "micromodels": [{**spec, "fill": fill}]}))
        with pytest.raises(UserError, match=re.escape(error)):
            load_fleet(path)
