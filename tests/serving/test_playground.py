"""The playground in a real browser (Debian's chromium, driven by Playwright) against the real
server: streamed tokens and sources, the fleet's trace, a rating with a correction stored,
an upload found by search, and a server that stops answering. A screenshot is kept for CI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from microfleet.inference.runtime import BASE_MODEL_NAME, Runtime
from tests.conftest import KEY_A, REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / ".ci" / "artifacts"
ANSWER_MS = 240_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium (`make test` installs it: apt-get install chromium)",
)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")

UPLOAD = """# Zephyrine harbour levy

The Zephyrine harbour levy is a fictional duty of 3.5 percent on moored yachts.
"""


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        assert browser.version.split(".")[0] == _debian_version()  # not a downloaded build
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(f"{server}/")
        page.fill("#api-key", KEY_A)
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector(f"#model option[value='{BASE_MODEL_NAME}']", state="attached")
        yield page
        browser.close()


def _debian_version() -> str:
    import subprocess

    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return out.split()[1].split(".")[0]


def _ask(page: Any, model: str, question: str) -> Any:
    """Ask, counting the answer's text changes as they arrive; the finished message."""
    page.select_option("#model", model)
    before = page.locator(".msg.assistant").count()
    page.evaluate(
        """() => {
          window.changes = 0;
          new MutationObserver(() => window.changes++).observe(
            document.querySelector('#messages'), {subtree: true, childList: true,
            characterData: true});
        }"""
    )
    page.fill("#question", question)
    page.click("#send")
    message = page.locator(".msg.assistant").nth(before)
    message.locator(".feedback").wait_for(state="visible", timeout=ANSWER_MS)
    return message


def test_the_picker_offers_every_micromodel(page: Any) -> None:
    labels = page.locator("#model option").all_text_contents()
    assert labels[1:] == [
        "tax_rates",
        "market_news (no adapter: base model)",
        "personal_finance (no adapter: base model)",
        "fleet (orchestrator)",
    ]
    assert page.locator("#model").input_value() == "fleet"  # nothing chosen yet: the orchestrator


def test_chat_streams_tokens_and_shows_sources(page: Any, runtime: Runtime) -> None:
    message = _ask(page, BASE_MODEL_NAME, "Which company raised its dividend?")
    assert page.evaluate("window.changes") > 3  # tokens arrived one by one
    assert message.locator(".text").inner_text().strip()
    links = message.locator(".sources a")
    assert links.count() >= 1
    assert "Harbor Energy" in " ".join(links.all_inner_texts())

    message.locator("button.up").click()
    status = message.locator(".feedback-status")
    sync_api.expect(status).to_contain_text("saved")
    entry = runtime.assistant.answers.entries(limit=1)[0]  # type: ignore[union-attr]
    assert (entry.rating, entry.response.model) == (1, BASE_MODEL_NAME)
    assert entry.response.question == "Which company raised its dividend?"
    assert entry.response.sources and entry.response.session.startswith("playground-")

    first_session = page.evaluate("sessionStorage.getItem('microfleet.session')")
    page.click("#new-conversation")
    assert page.locator("#messages li").count() == 0
    page.fill("#question", "")
    assert page.evaluate("sessionStorage.getItem('microfleet.session')") is None
    assert first_session


def test_fleet_answer_shows_the_trace_and_takes_a_correction(page: Any, runtime: Runtime) -> None:
    message = _ask(page, "fleet", "Which has the lower standard VAT rate, Germany or France?")
    trace = message.locator(".trace")
    sync_api.expect(trace).to_be_visible()
    assert "Micromodel calls: 2" in trace.locator("summary").first.inner_text()
    trace.locator("summary").first.click()
    calls = trace.locator(".calls > li summary").all_inner_texts()
    assert sorted(c.split(" ·")[0] for c in calls) == [
        "tax_rates(country=France)",
        "tax_rates(country=Germany)",
    ]
    trace.locator(".calls > li summary").first.click()
    sync_api.expect(trace.locator("dd").nth(1)).not_to_be_empty()  # the call's output

    correction = "Germany: 19% is lower than France's 20%."
    message.locator(".better summary").click()
    message.locator(".correction").fill(correction)
    message.locator(".send-correction").click()
    sync_api.expect(message.locator(".feedback-status")).to_contain_text("with your answer")
    entry = runtime.assistant.answers.entries(limit=1)[0]  # type: ignore[union-attr]
    assert (entry.rating, entry.correction) == (-1, correction)
    assert entry.response.model == "fleet" and entry.response.micromodels() == ["tax_rates"]
    assert len(entry.response.trace["calls"]) == 2  # type: ignore[index]


def test_upload_then_search_and_a_bad_file(page: Any, tmp_path: Path) -> None:
    before = page.inner_text("#kb-stats")
    good, bad = tmp_path / "zephyrine.md", tmp_path / "notes.xyz"
    good.write_text(UPLOAD)
    bad.write_text("not a supported type")
    page.set_input_files("#upload", [str(bad), str(good)])
    results = page.locator("#upload-results li")
    sync_api.expect(results).to_have_count(2, timeout=60_000)
    sync_api.expect(results.filter(has_text="notes.xyz")).to_contain_text("unsupported file type")
    sync_api.expect(results.filter(has_text="zephyrine.md")).to_contain_text("1 document")
    sync_api.expect(page.locator("#kb-stats")).not_to_have_text(before)

    page.fill("#search-query", "Zephyrine harbour levy on yachts")
    page.click("#search-form button")
    first = page.locator("#search-results li").first
    sync_api.expect(first).to_contain_text("Zephyrine harbour levy")


def test_a_server_that_stops_answering_is_reported_and_retried(page: Any) -> None:
    page.route("**/v1/kb/stats", lambda route: route.abort())
    page.route("**/healthz", lambda route: route.abort())
    page.fill("#api-key", KEY_A + " ")  # a change: the page reloads models and counts
    page.dispatch_event("#api-key", "change")
    status = page.locator("#status")
    sync_api.expect(status).to_contain_text("cannot be reached")
    page.fill("#api-key", KEY_A)
    page.dispatch_event("#api-key", "change")
    page.unroute("**/v1/kb/stats")
    page.unroute("**/healthz")
    sync_api.expect(status).to_be_hidden(timeout=20_000)  # it retried and recovered


STEAL = "javascript:window.__pwned=localStorage.getItem('microfleet.apiKey')"


def test_a_planted_javascript_link_never_runs(page: Any, server: str) -> None:
    """The stored XSS of the security probe: another key plants a document whose url is
    javascript:; ingest drops the url, and a hit that carries one anyway (an older store, a
    search result from elsewhere) renders as text that runs nothing when clicked."""
    planted = {"id": "xss-plant", "title": "Zorblax planted levy", "text": "Zorblax levy text."}
    planted["url"] = STEAL
    stored = httpx.post(
        f"{server}/v1/ingest", json={"documents": [planted]}, headers={"X-API-Key": KEY_A}
    )
    assert stored.json()["documents"] == 1
    page.fill("#search-query", "Zorblax planted levy")
    page.click("#search-form button")
    first = page.locator("#search-results li").first
    sync_api.expect(first).to_contain_text("Zorblax planted levy")
    assert first.locator("a").count() == 0  # no url kept, so no link

    hit = {"doc_id": "x", "chunk_id": "1", "score": 1.0, "title": "Forged hit", "url": STEAL}
    hit["text"] = "forged"
    page.route(
        "**/v1/search",
        lambda route: route.fulfill(json={"object": "list", "data": [hit]}, status=200),
    )
    page.fill("#search-query", "forged")
    page.click("#search-form button")
    forged = page.locator("#search-results li").first
    sync_api.expect(forged).to_contain_text("Forged hit")
    assert forged.locator("a").count() == 0
    forged.get_by_text("Forged hit").click()
    page.unroute("**/v1/search")
    assert page.evaluate("window.__pwned") is None


def test_the_page_policy_blocks_injected_inline_script(page: Any) -> None:
    page.evaluate(
        """() => {
          const img = document.createElement('img');
          img.setAttribute('onerror', 'window.__inline = 1');
          img.src = 'data:,not-an-image';
          document.body.appendChild(img);
        }"""
    )
    page.wait_for_timeout(500)
    assert page.evaluate("window.__inline") is None  # the CSP refused the inline handler


def test_screenshot_for_ci(page: Any, server: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1100})
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(f"{server}/")
    phone.screenshot(path=str(ARTIFACTS / "playground-phone.png"), full_page=True)
    assert (ARTIFACTS / "playground.png").stat().st_size > 10_000
    assert httpx.get(f"{server}/web/app.js").status_code == 200  # open without a key
    phone.close()
