"""The prompt-injection screen, measured (not a test): detection rate (injections flagged)
and false-positive rate (ordinary questions and document text flagged) on the shipped
labelled set, by stratified 5-fold cross-validation (each text scored by a model that never
saw it), and the share of the sample corpus's chunks it flags. `--write` fits the weights
on the whole set and writes them into the package (src/microfleet/features/guard/screen.npz).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from microfleet.features.guard import WEIGHTS, InjectionScreen, fit_screen, labelled_set
from microfleet.knowledge.embedding import load_embedder

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from report import print_report  # noqa: E402

THRESHOLD = 0.6  # chosen on the cross-validated scores: few false positives, most attacks


def cross_validated(texts: list[str], vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    flagged = np.zeros(len(labels), dtype=bool)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for train, test in folds.split(vectors, labels):
        screen = fit_screen([texts[i] for i in train], vectors[train], labels[train], THRESHOLD)
        flagged[test] = screen.flagged([texts[i] for i in test], vectors[test])
    return flagged


def corpus_chunks() -> list[str]:
    """The sample corpus's texts, cut into paragraphs (ordinary documents, none an attack)."""
    import json

    corpus = REPO / "fleets" / "finance" / "corpus"
    texts = [json.loads(line)["text"] for line in (corpus / "news.jsonl").read_text().splitlines()]
    texts += [p for p in (corpus / "vat_rates_eu.md").read_text().split("\n\n") if p.strip()]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="Write the weights it fits.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    rows = labelled_set(Path(__file__).parent / "data" / "injection_labelled.jsonl")
    embedder = load_embedder(None)
    texts = [r.text for r in rows]
    vectors = embedder.embed(texts)
    labels = np.array([r.injection for r in rows])
    flagged = cross_validated(texts, vectors, labels)
    whole = fit_screen(texts, vectors, labels, THRESHOLD)
    corpus = corpus_chunks()
    shipped = whole if args.write or not WEIGHTS.exists() else InjectionScreen.load()
    report = {
        "labelled_set (5-fold cross-validation)": {
            "injections": int(labels.sum()),
            "ordinary": int((~labels).sum()),
            "detection_rate": float(flagged[labels].mean()),
            "false_positive_rate": float(flagged[~labels].mean()),
        },
        "sample_corpus": {
            "texts": len(corpus),
            "flagged_share": float(np.mean(shipped.flagged(corpus, embedder.embed(corpus)))),
        },
    }
    missed = [r.text for r, f in zip(rows, flagged, strict=True) if r.injection and not f]
    wrong = [r.text for r, f in zip(rows, flagged, strict=True) if not r.injection and f]
    print_report(report, args.json)
    print("missed:", *missed[:10], sep="\n  ", file=sys.stderr)
    print("false positives:", *wrong[:10], sep="\n  ", file=sys.stderr)
    if args.write:
        whole.save(WEIGHTS)
        print(f"wrote {WEIGHTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
