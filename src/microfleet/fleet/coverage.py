"""What a question asks beyond what its micromodels answer.

A typed micromodel answers one thing: `tax_rates` gives a state's standard rate. Asked "What
was Estonia's VAT rate before the increase?", it answers 24%, right about the wrong thing.
A question's words that appear nowhere in the called micromodels' own texts (description,
examples, question templates, parameters and their values) nor among the words the
orchestrator reads comparisons by (fleet/asked.py) are what it asks beyond them; the
orchestrator then adds what the knowledge base says (fleet/orchestrator.py). Words are
compared as BM25 terms (stemmed, stop words out), as retrieval compares them; "before" and
"after", stop words to BM25, are compared as words ("What was it before?").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from microfleet.core.questions import SIDES, words
from microfleet.fleet.asked import vocabulary
from microfleet.knowledge.sparse import Bm25Encoder
from microfleet.micromodel.spec import FleetSpec, MicromodelSpec


class Coverage:
    def __init__(self, fleet: FleetSpec, sparse: Bm25Encoder) -> None:
        self.sparse = sparse
        common = self._terms(vocabulary())
        self.covered = {s.name: self._terms(_texts(s)) | common for s in fleet.micromodels}
        self.said = {s.name: {w for t in _texts(s) for w in words(t)} for s in fleet.micromodels}

    def beyond(self, question: str, names: Iterable[str]) -> set[str]:
        """The question's words that none of the micromodels `names` covers."""
        names = list(names)
        covered = set().union(*(self.covered[name] for name in names))
        said = set().union(*(self.said[name] for name in names))
        text = re.sub(r"\d[\d.,]*\s*%?", " ", question)  # figures are values, not subjects
        found = set()
        for word in words(text):
            terms = set(self.sparse.embed_query(word).indices)
            if terms - covered or (not terms and word in _TIMES and word not in said):
                found.add(word)
        return found

    def _terms(self, texts: Iterable[str]) -> set[int]:
        return {i for text in texts for i in self.sparse.embed_query(text).indices}


_TIMES = {word for word, side in SIDES.items() if side in ("before", "after")}


def _texts(spec: MicromodelSpec) -> list[str]:
    texts = [spec.description, spec.system_prompt, spec.query or "", *spec.examples]
    texts += [json.dumps(spec.parameters), json.dumps(spec.returns or {})]
    if spec.data is not None:
        texts += [*spec.data.questions, spec.data.answer]
    for fill in spec.fill.values():
        texts += [*fill.aliases, *(re.sub(r"[^A-Za-z]+", " ", e) for e in fill.every)]
    return texts
