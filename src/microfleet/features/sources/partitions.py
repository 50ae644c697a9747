"""Bytewax source adapters: one partition per input, each emitting batches of raw records.

A path partition's state is how many records it has emitted; the walk order is stable, so a
resumed run skips exactly those. Feeds and WebSockets are not replayed: ingest is idempotent.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from microfleet.config import Settings
from microfleet.documents.parse import RawRecord
from microfleet.features.sources.alpaca import AlpacaConfig, AlpacaNewsStream
from microfleet.features.sources.files import iter_path_records, iter_stdin_records
from microfleet.features.sources.rss import read_feed
from microfleet.features.sources.specs import InputSpec

RecordBatch = list[RawRecord]


class IterPartition(StatefulSourcePartition[RecordBatch, int]):
    """A finite, ordered stream of records (files, directories, stdin), in batches of `batch`.
    It reads half a batch ahead, so the stream's end never makes a small last batch: what is
    left after a full batch joins it when it is less than half a batch (528 documents go as 256
    and 272, not 256, 256 and 16; a small batch embeds its chunks at a lower rate, measured)."""

    def __init__(
        self, records: Iterator[RawRecord], batch: int, resume: int | None, stop: threading.Event
    ) -> None:
        self.stop = stop
        self.emitted = resume or 0
        self._records = itertools.islice(records, self.emitted, None)
        self._batch = batch
        self._ahead: list[RawRecord] = []

    def next_batch(self) -> list[RecordBatch]:
        if self.stop.is_set():
            raise StopIteration
        most = self._batch + self._batch // 2  # one batch, and what may join it
        self._ahead += itertools.islice(self._records, most + 1 - len(self._ahead))
        whole = len(self._ahead) <= most  # the stream ends within it
        chunk = self._ahead if whole else self._ahead[: self._batch]
        self._ahead = [] if whole else self._ahead[self._batch :]
        if not chunk:
            raise StopIteration
        self.emitted += len(chunk)
        return [chunk]

    def snapshot(self) -> int:
        return self.emitted


class FeedPartition(StatefulSourcePartition[RecordBatch, None]):
    """Reads a feed once, or with `follow` polls it and emits only entries not seen before."""

    def __init__(
        self, target: str, settings: Settings, follow: bool, stop: threading.Event
    ) -> None:
        self.target, self.settings, self.follow, self.stop = target, settings, follow, stop
        self._seen: set[str] = set()
        self._due = datetime.now(UTC)
        self._finished = False

    def next_batch(self) -> list[RecordBatch]:
        if self._finished or self.stop.is_set():
            raise StopIteration
        if datetime.now(UTC) < self._due:
            return []
        records = read_feed(self.target, self.settings.http_timeout_seconds)
        fresh = [r for r in records if r.error or self._first_time(r)]
        self._due = datetime.now(UTC) + timedelta(seconds=self.settings.feed_poll_seconds)
        self._finished = not self.follow
        size = self.settings.batch_docs
        return [fresh[i : i + size] for i in range(0, len(fresh), size)]

    def _first_time(self, record: RawRecord) -> bool:
        key = str((record.fields or {}).get("id")) + str((record.fields or {}).get("published_at"))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def next_awake(self) -> datetime | None:
        # Wake at least every 200 ms so that a stop request is noticed while waiting to poll.
        soon = datetime.now(UTC) + timedelta(milliseconds=200)
        return None if self._finished else min(self._due, soon)

    def snapshot(self) -> None:
        return None


class AlpacaPartition(StatefulSourcePartition[RecordBatch, None]):
    def __init__(self, stream: AlpacaNewsStream, batch: int, stop: threading.Event) -> None:
        self.stream = stream.start()
        self._batch = batch
        self.stop = stop

    def next_batch(self) -> list[RecordBatch]:
        if self.stream.done or self.stop.is_set():
            raise StopIteration
        records = self.stream.drain(self._batch)
        return [records] if records else []

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + timedelta(milliseconds=200)

    def snapshot(self) -> None:
        return None


class IngestSource(FixedPartitionedSource[RecordBatch, object]):
    """One partition per input. In a cluster only the reading process lists them (`local`), so
    every input is read there and nowhere else."""

    def __init__(
        self,
        specs: list[InputSpec],
        settings: Settings,
        follow: bool,
        stop: threading.Event,
        local: bool = True,
    ) -> None:
        self.specs, self.settings, self.follow, self.stop = specs, settings, follow, stop
        self.local = local

    def list_parts(self) -> list[str]:
        return [f"{i}:{spec.name}" for i, spec in enumerate(self.specs)] if self.local else []

    def build_part(
        self, step_id: str, for_part: str, resume_state: object
    ) -> StatefulSourcePartition[RecordBatch, object]:
        spec = self.specs[int(for_part.split(":", 1)[0])]
        size = self.settings.batch_docs
        if spec.kind == "path":
            resume = resume_state if isinstance(resume_state, int) else None
            records = iter_path_records(Path(spec.target))
            return IterPartition(records, size, resume, self.stop)  # type: ignore[return-value]
        if spec.kind == "stdin":
            return IterPartition(iter_stdin_records(), size, None, self.stop)  # type: ignore[return-value]
        if spec.kind == "feed":
            return FeedPartition(spec.target, self.settings, self.follow, self.stop)  # type: ignore[return-value]
        stream = AlpacaNewsStream(alpaca_config(spec.target, self.settings, self.follow))
        return AlpacaPartition(stream, size, self.stop)  # type: ignore[return-value]


def alpaca_config(url: str, settings: Settings, follow: bool) -> AlpacaConfig:
    key = settings.alpaca_key_id.get_secret_value() if settings.alpaca_key_id else ""
    secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
    return AlpacaConfig(
        url=url,
        key_id=key,
        secret_key=secret,
        symbols=tuple(settings.alpaca_symbols),
        follow=follow,
        idle_seconds=settings.ws_idle_seconds,
    )
