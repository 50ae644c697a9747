"""`microfleet fleet new` scaffolds a fleet that `fleet show` validates; a broken one is
refused with the file and the reason."""

from __future__ import annotations

import json
from pathlib import Path

from microfleet.micromodel.questions import expand_seed_questions
from microfleet.micromodel.spec import load_fleet
from tests.cli.test_main import _run


def test_a_new_fleet_is_valid_data_and_show_checks_it(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    made = _run(subprocess_env, "fleet", "new", "desk", "--root", str(tmp_path))
    assert made.returncode == 0, made.stderr
    spec = tmp_path / "desk" / "fleet.yaml"
    shown = _run(subprocess_env, "fleet", "show", "--fleet", str(spec), "--json")
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout.splitlines()[-1])
    assert [m["name"] for m in listed["micromodels"]] == ["assistant"]
    plain = _run(subprocess_env, "fleet", "show", "--fleet", str(spec)).stdout
    said = "its sources where they answer, else the base model"  # as /readyz says
    assert f"assistant(question)  [no adapter: {said}]" in plain
    fleet = load_fleet(spec)
    assert len(expand_seed_questions(fleet.get("assistant"), fleet)) == 3
    routing = [
        json.loads(line) for line in (spec.parent / "routing.jsonl").read_text().splitlines()
    ]
    assert routing[0]["calls"][0]["name"] == "assistant"
    assert (spec.parent / "corpus").is_dir()

    again = _run(subprocess_env, "fleet", "new", "desk", "--root", str(tmp_path))
    assert again.returncode != 0 and "exists already" in again.stderr
    (spec.parent / "seeds" / "assistant.txt").unlink()
    broken = _run(subprocess_env, "fleet", "show", "--fleet", str(spec))
    assert broken.returncode != 0
    assert "seeds/assistant.txt is missing" in broken.stderr and "Traceback" not in broken.stderr
