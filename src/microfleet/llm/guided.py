"""JSON-schema guides for the batched decode loop (outlines-core).

A row with a guide may only pick the tokens its guide allows, so what it writes parses and
matches the schema; rows without one decode freely in the same batch. Each schema compiles to
an index once (tens of milliseconds for a typical result schema); each row gets its own guide.
"""

from __future__ import annotations

import json
import threading
from typing import Any

MAX_STRING = 160  # characters in a free string, so decoding cannot run on inside one
WHITESPACE = r"[ ]?"  # at most one space between tokens of the JSON
UNUSABLE_SCHEMA = "this JSON schema cannot be used for decoding"


def bounded(schema: Any, max_length: int = MAX_STRING, max_items: int | None = None) -> Any:
    """The schema with a length cap on free strings, and on arrays when `max_items` is given
    (a small model may otherwise repeat an array's item until the token limit)."""
    if isinstance(schema, list):
        return [bounded(item, max_length, max_items) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: bounded(value, max_length, max_items) for key, value in schema.items()}
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        out.setdefault("maxLength", max_length)
    if out.get("type") == "array" and max_items is not None:
        out.setdefault("maxItems", max_items)
    return out


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` cannot guide decoding (one line), or None when it can."""
    from outlines_core.json_schema import build_regex_from_schema

    try:
        build_regex_from_schema(json.dumps(bounded(schema)), WHITESPACE)
    except Exception as exc:  # outlines-core raises several kinds for what it cannot compile
        return f"{UNUSABLE_SCHEMA}: {str(exc).splitlines()[0][:160]}"
    return None


def fixed_opening(schema: Any) -> str:
    """What every answer under an object `schema` starts with, written as `json.dumps` writes
    it (the micromodels' training style): its leading required properties whose values are
    `const`, up to the first value left to the model ('{"country": "Malta", "rate": ').
    "" where no value is fixed: a bare key saves a pass or two, and would set the spacing
    that the model, untrained in it, chooses now ('{"calls":[')."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties or schema.get("type") != "object":
        return ""
    required = set(schema.get("required", []))
    parts: list[str] = []
    for name, value in properties.items():
        fixed = name in required and isinstance(value, dict) and "const" in value
        if not fixed and not parts:
            return ""
        if name not in required:  # it may be left out: the next character is not fixed
            return "{" + ", ".join(parts)
        if not fixed:
            return "{" + ", ".join([*parts, _json(name) + ": "])
        parts.append(f"{_json(name)}: {_json(value['const'])}")
    return "{" + ", ".join(parts) + "}"


def _json(value: Any) -> str:
    """`value` as outlines-core writes a const: JSON, with non-ASCII characters as they are."""
    return json.dumps(value, ensure_ascii=False)


class SchemaGuides:
    """Guides for one tokenizer; thread-safe, with the compiled indexes cached by schema."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._vocabulary: Any = None
        self._indexes: dict[str, Any] = {}
        self._openings: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def guide(self, schema: dict[str, Any]) -> Any:
        """A fresh outlines-core Guide for one row decoding under `schema`."""
        from outlines_core import Guide

        # The properties keep their order: the answer is written in the order the schema (and
        # the training data built from it) gives them, not alphabetically.
        return Guide(self._index(json.dumps(bounded(schema))))

    def opening(self, schema: dict[str, Any]) -> list[int]:
        """The tokens a row under `schema` starts with, fed with its prompt rather than decoded
        a pass each: `fixed_opening` but its last token, which the model writes itself (so
        the cut falls between two of its own tokens); [] where the guide would refuse them."""
        key = json.dumps(bounded(schema))
        with self._lock:
            known = self._openings.get(key)
        if known is None:
            text = fixed_opening(bounded(schema))
            known = self.tokenizer(text, add_special_tokens=False)["input_ids"][:-1] if text else []
            if known and not self.guide(schema).accepts_tokens(known):
                known = []
            with self._lock:
                self._openings[key] = known
        return list(known)

    def _index(self, key: str) -> Any:
        from outlines_core import Index
        from outlines_core.json_schema import build_regex_from_schema

        with self._lock:
            if key not in self._indexes:
                regex = build_regex_from_schema(key, WHITESPACE)
                self._indexes[key] = Index(regex, self._vocab())
            return self._indexes[key]

    def _vocab(self) -> Any:
        if self._vocabulary is None:
            self._vocabulary = _byte_vocabulary(self.tokenizer) or _text_vocabulary(self.tokenizer)
        return self._vocabulary


def _byte_vocabulary(tokenizer: Any) -> Any:
    """outlines-core's vocabulary with each token as the bytes it stands for, for a byte-level
    BPE tokenizer (SmolLM2's, GPT-2's); None for any other. outlines' own conversion turns a
    token holding part of a character into text, and loses its byte: a schema that spells a
    character outside ASCII ("const": "Österreich", an enum of "café") then did not compile."""
    from outlines_core import Vocabulary
    from tokenizers.decoders import ByteLevel
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    backend = getattr(tokenizer, "backend_tokenizer", None)  # a fast tokenizer's own
    if backend is None or not isinstance(backend.decoder, ByteLevel):
        return None
    byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
    special = set(tokenizer.all_special_tokens)
    tokens: dict[bytes, list[int]] = {}
    for token, index in tokenizer.get_vocab().items():
        if index == tokenizer.eos_token_id:
            continue
        plain = token in special or any(char not in byte_of for char in token)
        spelled = token.encode() if plain else bytes(byte_of[char] for char in token)
        tokens.setdefault(spelled, []).append(index)
    return Vocabulary(tokenizer.eos_token_id, tokens)


def _text_vocabulary(tokenizer: Any) -> Any:
    """outlines' own vocabulary for any other tokenizer (SentencePiece...)."""
    from outlines.backends.outlines_core import OutlinesCoreBackend
    from outlines.models.transformers import TransformerTokenizer

    wrapped = TransformerTokenizer(tokenizer)
    return OutlinesCoreBackend.create_outlines_core_vocabulary(
        wrapped.get_vocab(),
        wrapped.eos_token_id,
        wrapped.eos_token,
        wrapped.convert_token_to_string,
    )


def mask_logits(logits: Any, guides: list[Any]) -> None:
    """Restrict each row of `logits` ([rows, vocab]) to what its guide allows (None: free).

    Each guide writes its allowed tokens as a bitmask (outlines-core, in native code), and the
    bits are unpacked for all guided rows at once: a constant few milliseconds per step, where
    listing the allowed tokens in Python cost ~10 ms a row inside a free JSON string."""
    import numpy as np
    import torch

    rows = [j for j, guide in enumerate(guides) if guide is not None]
    if not rows:
        return
    vocab = logits.shape[1]
    words = (vocab + 31) // 32
    bits = np.zeros((len(rows), words), dtype=np.int32)
    for i, j in enumerate(rows):
        guides[j].write_mask_into(bits[i].ctypes.data, words, 4)
    allowed = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")[:, :vocab]
    blocked = torch.from_numpy(allowed == 0).to(logits.device)
    if len(rows) == logits.shape[0]:
        logits.masked_fill_(blocked, float("-inf"))
        return
    index = torch.tensor(rows, dtype=torch.long, device=logits.device)
    guided = logits.index_select(0, index)
    guided.masked_fill_(blocked, float("-inf"))
    logits.index_copy_(0, index, guided)


def advance(guide: Any, token: int) -> None:
    """Move a guide past the token its row picked (nothing once it is finished)."""
    if guide is not None and not guide.is_finished():
        guide.advance(token)
