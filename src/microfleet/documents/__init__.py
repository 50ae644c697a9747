"""Documents: the JSONL schema, and parsing + cleaning of each supported format."""

from microfleet.documents.schema import Document, Failure

__all__ = ["Document", "Failure"]
