"""RSS/Atom from a local file and from a real local HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from microfleet.config import Settings
from microfleet.features.ingest import run_ingest
from microfleet.features.pipeline import PipelineContext
from microfleet.features.sources import resolve_inputs
from microfleet.features.sources.rss import read_feed

RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Test Markets</title><link>http://x</link>
<description>d</description>
<item><title>Copper hits 11,000</title><link>http://x/copper</link><guid>copper-1</guid>
<pubDate>Thu, 16 Oct 2025 08:00:00 GMT</pubDate>
<description>&lt;p&gt;Copper rose after a mine accident in Indonesia.&lt;/p&gt;</description>
<category>commodities</category></item>
<item><title>Yen weakens</title><link>http://x/yen</link><guid>yen-1</guid>
<pubDate>Fri, 10 Oct 2025 08:00:00 GMT</pubDate>
<description>The yen weakened past 150 per dollar.</description></item>
</channel></rss>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/feed.xml":
            body, status, kind = RSS.encode(), 200, "application/rss+xml"
        elif self.path == "/garbage":
            body, status, kind = b"\x89PNG\r\n\x1a\n not a feed at all", 200, "text/plain"
        else:
            body, status, kind = b"not found", 404, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_feed_file_entries_become_documents(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text(RSS)
    records = read_feed(str(path), timeout=5)
    assert [r.fields["id"] for r in records if r.fields] == ["copper-1", "yen-1"]
    first = records[0].fields or {}
    assert first["title"] == "Copper hits 11,000"
    assert first["published_at"].startswith("2025-10-16T08:00:00")
    assert first["tags"] == ["commodities"] and first["source"] == "Test Markets"


def test_feed_over_http_is_ingested_and_searchable(
    server: str, settings: Settings, ctx: PipelineContext
) -> None:
    stats = run_ingest(resolve_inputs([f"{server}/feed.xml"]), settings, ctx).stats
    assert stats.documents == 2 and stats.failed == 0
    assert ctx.store.count_documents() == 2


@pytest.mark.parametrize(
    ("path", "reason"), [("/missing", "HTTP 404"), ("/garbage", "not an RSS or Atom feed")]
)
def test_bad_feeds_fail_with_a_reason(server: str, path: str, reason: str) -> None:
    records = read_feed(f"{server}{path}", timeout=5)
    assert len(records) == 1 and reason in (records[0].error or "")


def test_bad_feed_is_counted_and_dead_lettered(
    server: str, settings: Settings, ctx: PipelineContext
) -> None:
    specs = resolve_inputs([f"{server}/missing", f"{server}/feed.xml"])
    stats = run_ingest(specs, settings, ctx).stats
    assert stats.failed == 1 and stats.documents == 2
    assert "HTTP 404" in settings.dead_letter_path.read_text()
