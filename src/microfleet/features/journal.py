"""The write phase's intent log, so that a kill -9 between a batch's upsert and the deletion
of its documents' old chunks is repaired at the next start.

Before the upsert, the batch's (document id, new hash) pairs go into one file, written
atomically; after the deletions the file goes. A file still there at start-up names the
documents a killed writer may have left with two versions: where the new version landed
(one upsert is one write-ahead-log record: all of it or none), its old chunks are deleted;
where it did not, the old version is whole and is kept.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from microfleet.core.hits import SearchFilter
from microfleet.knowledge.store import VectorStore


class WriteJournal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def begin(self, docs: list[tuple[str, str]]) -> Path | None:
        """Record the documents a write is about to replace; the entry to `end` after it."""
        if not docs:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = self.directory / f"{uuid.uuid4().hex}.json"
        partial = entry.with_suffix(".tmp")
        with partial.open("w", encoding="utf-8") as fh:
            json.dump(docs, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, entry)
        return entry

    def end(self, entry: Path | None) -> None:
        if entry is not None:
            entry.unlink(missing_ok=True)

    def repair(self, store: VectorStore) -> int:
        """Finish what killed writers left half done; how many documents were repaired."""
        if not self.directory.is_dir():
            return 0
        repaired = 0
        for entry in sorted(self.directory.glob("*.json")):
            for doc_id, new_hash in _read(entry):
                if store.count(SearchFilter(doc_ids=(doc_id,)), doc_hash=new_hash):
                    store.delete_stale(doc_id, new_hash)
                    repaired += 1
            entry.unlink(missing_ok=True)
        for partial in self.directory.glob("*.tmp"):  # killed before its upsert began
            partial.unlink(missing_ok=True)
        return repaired


def _read(entry: Path) -> list[tuple[str, str]]:
    try:
        return [(str(d), str(h)) for d, h in json.loads(entry.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []  # written atomically, so never half a file; unreadable means nothing to do
