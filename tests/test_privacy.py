"""PII redaction with Presidio's pattern recognizers: what is replaced, what is kept (the
domain's numbers, dates and rates), per-deployment entities, and log records."""

from __future__ import annotations

import logging

import pytest

from microfleet.errors import UserError
from microfleet.privacy import PiiRedactor, redact_logs

PERSONAL = (
    "Write to zebulon.quark@example.com or call +44 20 7946 0958. Card 4111 1111 1111 1111, "
    "IBAN DE89370400440532013000, from 192.168.1.20."
)
# Domain text that must pass untouched: rates, years, amounts, ids and dates.
DOMAIN = [
    "What is the standard VAT rate in Germany? It is 19% since 2007.",
    "The ECB deposit rate was cut by 25 basis points to 3.75% on 6 June 2024.",
    "Harbor Energy raised its quarterly dividend to $0.32 per share (ticker HBR).",
    "Which EU country has the lowest standard VAT rate, 17 or 18 percent?",
    "Invoice 2024-0117 of EUR 1,250.00 is due within 30 days.",
]


def test_personal_data_is_replaced_by_its_kind() -> None:
    redacted = PiiRedactor().redact(PERSONAL)
    for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS"):
        assert f"<{kind}>" in redacted, (kind, redacted)
    for secret in ("zebulon.quark", "7946", "4111", "DE8937", "192.168"):
        assert secret not in redacted


@pytest.mark.parametrize("text", DOMAIN)
def test_domain_text_is_left_alone(text: str) -> None:
    assert PiiRedactor().redact(text) == text


def test_entities_are_chosen_per_deployment() -> None:
    only_mail = PiiRedactor(["EMAIL_ADDRESS"]).redact(PERSONAL)
    assert "<EMAIL_ADDRESS>" in only_mail and "4111 1111 1111 1111" in only_mail
    off = PiiRedactor([])
    assert not off.enabled and off.redact(PERSONAL) == PERSONAL
    with pytest.raises(UserError, match="unknown PASSPORT"):
        PiiRedactor(["PASSPORT"]).redact(PERSONAL)


def test_nested_data_and_log_records(caplog: pytest.LogCaptureFixture) -> None:
    redactor = PiiRedactor()
    data = {"q": ["mail a.b@example.org"], "n": 3, "inner": {"ip": "10.1.2.3"}}
    assert redactor.redact_data(data) == {
        "q": ["mail <EMAIL_ADDRESS>"],
        "n": 3,
        "inner": {"ip": "<IP_ADDRESS>"},
    }
    redact_logs(redactor)
    with caplog.at_level(logging.WARNING):
        logging.getLogger("microfleet.test").warning("answer for %s", "a.b@example.org")
        logging.getLogger("other.library").warning("kept %s", "a.b@example.org")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["answer for <EMAIL_ADDRESS>", "kept a.b@example.org"]
