"""Print a benchmark report: one JSON object with --json, else aligned sections."""

from __future__ import annotations

import json


def print_report(report: dict[str, dict[str, float]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report))
        return
    width = max(len(key) for figures in report.values() for key in figures) + 2
    for section, figures in report.items():
        print(f"[{section}]")
        for key, value in figures.items():
            shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
            print(f"  {key:{width}s} {shown}")
