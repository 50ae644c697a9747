"""Files and directories: each supported file is a record; each JSONL line is a record; any
other file in a directory is a failed record that says why."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from microfleet.documents.parse import SUPPORTED_SUFFIXES, RawRecord, unsupported


def iter_path_records(root: Path) -> Iterator[RawRecord]:
    """Records in a stable order (sorted walk), so a resumed run can skip what it has done."""
    if root.is_file():
        yield from _file_records(root)
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden: .git, editor files
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            yield from _file_records(path)
        else:  # never skipped silently: a failure, counted and dead-lettered with its reason
            yield RawRecord(ref=str(path), error=unsupported(path))


def _file_records(path: Path) -> Iterator[RawRecord]:
    if path.suffix.lower() != ".jsonl":
        yield RawRecord(ref=str(path), path=path)
        return
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield RawRecord(ref=str(path), error=f"cannot read file: {exc.strerror or exc}")
        return
    with fh:
        for number, raw in enumerate(fh, start=1):
            record = _line_record(f"{path}:{number}", raw)
            if record is not None:
                yield record


def iter_stdin_records(stream: TextIO | None = None) -> Iterator[RawRecord]:
    source = stream if stream is not None else sys.stdin
    buffer = getattr(source, "buffer", None)
    lines = buffer if buffer is not None else (line.encode("utf-8") for line in source)
    for number, raw in enumerate(lines, start=1):
        record = _line_record(f"stdin:{number}", raw)
        if record is not None:
            yield record


def _line_record(ref: str, raw: bytes) -> RawRecord | None:
    if not raw.strip():
        return None
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return RawRecord(
            ref=ref,
            line=raw.decode("utf-8", errors="replace"),
            error=f"line is not UTF-8 (bad byte at offset {exc.start}); convert it to UTF-8",
        )
    return RawRecord(ref=ref, line=line.rstrip("\r\n"))
