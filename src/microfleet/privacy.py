"""PII redaction with Presidio's pattern recognizers (no NLP model, nothing downloaded).

Applied where text leaves the request: traces, logs, and exported feedback. Each deployment
chooses the entities (`MICROFLEET_PII_ENTITIES`), or none to switch redaction off; a match
becomes `<ENTITY>`, such as `<EMAIL_ADDRESS>`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

DEFAULT_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
)
MIN_SCORE = 0.3  # Presidio's pattern scores: phone numbers start at 0.4, IPs at 0.6


class PiiRedactor:
    def __init__(self, entities: Sequence[str] = DEFAULT_ENTITIES) -> None:
        self.entities = tuple(entities)
        self._recognizers: list[Any] | None = None
        self._anonymizer: Any = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.entities)

    def redact(self, text: str) -> str:
        """`text` with each recognised entity replaced by `<ENTITY>`."""
        if not self.enabled or not text:
            return text
        recognizers, anonymizer = self._load()
        found = [r for rec in recognizers for r in rec.analyze(text, self.entities, None)]
        found = [r for r in found if r.score >= MIN_SCORE]
        if not found:
            return text
        return str(anonymizer.anonymize(text=text, analyzer_results=found).text)

    def redact_data(self, value: Any) -> Any:
        """Every string inside `value` (dicts, lists) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_data(v) for v in value]
        return value

    def _load(self) -> tuple[list[Any], Any]:
        """The recognizers and the anonymizer, made once (the first call imports Presidio)."""
        with self._lock:
            if self._recognizers is None:
                from presidio_anonymizer import AnonymizerEngine

                self._recognizers = _recognizers(self.entities)
                self._anonymizer = AnonymizerEngine()
            return self._recognizers, self._anonymizer


def _recognizers(entities: Sequence[str]) -> list[Any]:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    known: dict[str, Any] = {
        "EMAIL_ADDRESS": _offline_email_recognizer,
        "PHONE_NUMBER": PhoneRecognizer,
        "CREDIT_CARD": CreditCardRecognizer,
        "IBAN_CODE": IbanRecognizer,
        "IP_ADDRESS": IpRecognizer,
        "US_SSN": UsSsnRecognizer,
    }
    unknown = sorted(set(entities) - set(known))
    if unknown:
        from microfleet.errors import UserError

        raise UserError(
            f"MICROFLEET_PII_ENTITIES: unknown {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return [known[name]() for name in dict.fromkeys(entities)]


def _offline_email_recognizer() -> Any:
    """Presidio's email recognizer with tldextract's bundled suffix list: the default one
    fetches the list from the internet on first use."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text).fqdn)

    return OfflineEmailRecognizer()


def redact_logs(redactor: PiiRedactor, prefix: str = "microfleet") -> None:
    """Redact the message of every log record of `prefix` loggers (and their children) as it
    is made, whichever handler writes it. Idempotent: the latest redactor applies."""
    global _active
    if _active is None:
        original = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = original(*args, **kwargs)
            current = _active
            if current is not None and current[0].enabled and record.name.startswith(current[1]):
                record.msg, record.args = current[0].redact(record.getMessage()), None
            return record

        logging.setLogRecordFactory(factory)
    _active = (redactor, prefix)


_active: tuple[PiiRedactor, str] | None = None
