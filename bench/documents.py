"""Document benchmarks (not tests), run by bench/ingest.py and on their own.

1. formats: ingest throughput per format (files/s, and chunks/s of the whole pipeline), on
   real files of each format built as the tests build them, `--copies` of each.
2. filings: passage retrieval on real SEC filings (fleets/finance/eval/filings.jsonl): hit@1,
   hit@3 and MRR@10 for hybrid, dense and sparse search, for all questions and for table and
   text questions. Four set-ups: tables cut like running text and titles from the files'
   metadata (before); table-aware chunking (tables); and also the fleet's title rules, which
   title a filing from its cover page (titles); and also each question searched as the
   assistant searches it, with the fleet glossary's long forms (after).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from microfleet.config import Settings
from microfleet.documents.titles import Titler
from microfleet.evaluation.passages import evaluate_passages
from microfleet.evaluation.retrieval import as_searched
from microfleet.features.chunking import Chunker, load_generator_tokenizer
from microfleet.features.ingest import load_context, run_ingest
from microfleet.features.sources import resolve_inputs
from microfleet.knowledge.connect import fusion_from
from microfleet.knowledge.search import KnowledgeSearch
from microfleet.knowledge.service import fleet_glossary

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from report import print_report  # noqa: E402

from tests.documents.formats import write_all  # noqa: E402

FILINGS = REPO / "fleets" / "finance" / "eval" / "filings.jsonl"
FLEET = REPO / "fleets" / "finance" / "fleet.yaml"
SETUPS = (("before", False, False), ("tables", True, False), ("titles", True, True))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_formats(work: Path, models_dir: Path, copies: int) -> dict[str, float]:
    """Each format on its own: `copies` files through the whole pipeline, timed."""
    (work / "built").mkdir(exist_ok=True)
    built = write_all(work / "built")
    warm = Settings(home=work / "home-warm", models_dir=models_dir)
    warm_ctx = load_context(warm)  # the first ingest pays for the models' first calls
    run_ingest(resolve_inputs([str(work / "built")]), warm, warm_ctx)
    warm_ctx.store.close()
    report: dict[str, float] = {}
    for suffix, path in built.items():
        folder = work / f"format{suffix}"
        folder.mkdir()
        for i in range(copies):
            (folder / f"{path.stem}-{i}{suffix}").write_bytes(path.read_bytes())
        settings = Settings(home=work / f"home{suffix}", models_dir=models_dir)
        ctx = load_context(settings)
        start = time.perf_counter()
        stats = run_ingest(resolve_inputs([str(folder)]), settings, ctx).stats
        seconds = time.perf_counter() - start
        ctx.store.close()
        assert stats.failed == 0 and stats.documents == copies, stats
        report[f"{suffix[1:]}_files_per_s"] = copies / seconds
        report[f"{suffix[1:]}_chunks_per_s"] = stats.chunks / seconds
        log(f"formats: {suffix} {copies / seconds:.1f} files/s")
    return report


def bench_filings(work: Path, models_dir: Path) -> dict[str, float]:
    """The same filings ingested three ways (the last one searched with the questions as
    asked and as the assistant searches them), each searched three ways."""
    rows = [json.loads(line) for line in FILINGS.read_text().splitlines()]
    os.chdir(FILINGS.parent)  # document ids are paths relative to the working directory
    report: dict[str, float] = {"questions": len(rows)}
    for name, tables, titles in SETUPS:
        settings = Settings(home=work / f"filings-{name}", models_dir=models_dir, fleet=FLEET)
        ctx = load_context(settings)
        tokenizer = load_generator_tokenizer(settings.model_cache_dir)
        ctx.chunker = Chunker(tokenizer, settings.chunk_tokens, settings.chunk_overlap, tables)
        if not titles:
            ctx.titler = Titler()
        stats = run_ingest(resolve_inputs(["filings"]), settings, ctx).stats
        search = KnowledgeSearch(ctx.store, ctx.embedder, ctx.sparse, fusion_from(settings))
        report[f"{name}_chunks"] = stats.chunks
        report.update(_scores(name, evaluate_passages(search, rows)))
        if titles:
            searched = as_searched(rows, fleet_glossary(settings))
            report.update(_scores("after", evaluate_passages(search, searched)))
        ctx.store.close()
    return report


def _scores(name: str, scores: dict[str, Any]) -> dict[str, float]:
    log(f"filings: {name} hybrid hit@3 {scores['hybrid']['all']['hit@3']:.2f}")
    return {
        f"{name}_{mode}_{group}_{metric}": value
        for mode in ("hybrid", "dense", "sparse")
        for group, figures in scores[mode].items()
        for metric, value in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=20, help="files of each format")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microfleet-bench-") as tmp:
        work = Path(tmp)
        models = work / "models"
        report = {
            "formats": bench_formats(work, models, args.copies),
            "filings": bench_filings(work, models),
        }
    print_report(report, args.json)


if __name__ == "__main__":
    main()
