"""`microfleet fleet new NAME`: a new fleet's files, ready to edit. A fleet is data only: its
spec, seed questions, a corpus and a labelled routing set; no code changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from microfleet.errors import UserError
from microfleet.micromodel.spec import FleetSpec

SPEC = """\
# The {name} fleet: micromodels the orchestrator calls as tools.
# `MICROFLEET_FLEET={spec} microfleet fleet show` validates it.
name: {name}
description: What this assistant helps with, in one sentence.
micromodels:
  - name: assistant
    description: >-
      What this micromodel answers; the router compares each question with it and the examples.
    system_prompt: >-
      You answer questions briefly and only from the context.
    parameters:
      type: object
      properties:
        question: {{type: string, description: "The question, in the user's words."}}
      required: [question]
    query: "{{question}}"
    seed_questions: seeds/assistant.txt
    examples:
      - What does the knowledge base say about this topic?
    metric: rouge
"""
SEEDS = """\
What does the knowledge base say about this topic?
How do I get started?
What should I read first?
"""


def new_fleet(root: Path, name: str) -> Path:
    """Write ROOT/NAME: fleet.yaml, seeds/, an empty corpus/ and routing.jsonl; the spec's path.
    Refuses a bad name or a directory that exists (nothing is overwritten)."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise UserError(f"fleet name '{name}': use lower-case letters, digits, '-' and '_'")
    target = root / name
    if target.exists():
        raise UserError(f"{target} exists already; choose another name or edit it")
    (target / "seeds").mkdir(parents=True)
    (target / "corpus").mkdir()
    spec = target / "fleet.yaml"
    spec.write_text(SPEC.format(name=name, spec=spec), encoding="utf-8")
    (target / "seeds" / "assistant.txt").write_text(SEEDS, encoding="utf-8")
    question = "How do I get started?"
    row = {
        "question": question,
        "calls": [{"name": "assistant", "arguments": {"question": question}}],
    }
    (target / "routing.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    return spec


def missing_files(fleet: FleetSpec) -> list[str]:
    """The files the spec names that are not there (seed questions, data tables, adapters)."""
    named = [
        *(s.seed_questions for s in fleet.micromodels if s.seed_questions),
        *(s.data.table for s in fleet.micromodels if s.data),
        *([fleet.adapters] if fleet.adapters else []),
    ]
    return [f"{fleet.path(p)} is missing" for p in named if not fleet.path(p).exists()]
