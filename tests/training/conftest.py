"""A tiny fleet (six-row table, two seed questions) so real training runs stay short."""

from __future__ import annotations

from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.micromodel.spec import FleetSpec, load_fleet

TINY_FLEET = """
name: tiny
micromodels:
  - name: rates
    description: The tax rate of a country.
    system_prompt: Answer with the tax rate of the country.
    parameters: {type: object, properties: {country: {type: string}}, required: [country]}
    metric: numeric
    data:
      table: rates.csv
      questions: ["What is the rate in {country}?", "Which rate applies in {country}?"]
      answer: "The rate in {country} is {rate}%."
    lora: {r: 4, alpha: 8, epochs: 1, learning_rate: 0.003, batch_size: 4, max_length: 96}
  - name: news
    description: Market news.
    system_prompt: Answer briefly.
    parameters: {type: object, properties: {topic: {type: string}}, required: [topic]}
    metric: rouge
    seed_questions: seeds.txt
    variations: {asset: [gold, oil]}
"""


@pytest.fixture
def tiny_fleet(tmp_path: Path, settings: Settings) -> FleetSpec:
    root = tmp_path / "fleet"
    root.mkdir()
    (root / "fleet.yaml").write_text(TINY_FLEET)
    rows = ["Austria,20", "Belgium,21", "Croatia,25", "Cyprus,19", "Hungary,27", "Malta,18"]
    (root / "rates.csv").write_text("country,rate\n" + "\n".join(rows) + "\n")
    (root / "seeds.txt").write_text("What moved {asset} prices?\n")
    return load_fleet(root / "fleet.yaml")
