"""The ingest progress bar: docs/s and chunks/s on a terminal, silent otherwise."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.progress import ProgressColumn, Task
from rich.text import Text

from microfleet.features.pipeline import IngestStats

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class IngestProgress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.total = IngestStats()
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> IngestProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("ingesting"),
                BarColumn(),
                TextColumn("{task.fields[line]}"),
                TimeElapsedColumn(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("ingest", total=None, line="")
        self._start = time.monotonic()
        return self

    def update(self, stats: IngestStats) -> None:
        with self._lock:
            self.total.add(stats)
            if self._progress is None or self._task is None:
                return
            elapsed = max(time.monotonic() - self._start, 1e-6)
            t = self.total
            line = (
                f"{t.documents} docs ({t.documents / elapsed:.1f}/s), {t.chunks} chunks "
                f"({t.chunks / elapsed:.1f}/s), {t.unchanged} unchanged, {t.failed} failed"
            )
            self._progress.update(self._task, line=line)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


class RateColumn(ProgressColumn):
    """A rich progress column: '<completed> <unit> (<rate>/s)'."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        rate = f"{task.speed:.2f}/s" if task.speed else "-/s"
        return Text(f"{int(task.completed)} {self.unit} ({rate})")
