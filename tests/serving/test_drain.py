"""SIGTERM on a real `microfleet serve` process with ten open SSE streams: each ends with a
final frame (finish_reason "stop", "length" or "error", after an error frame) and [DONE]; none
is cut silently, no new connection is taken, and the process exits cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from microfleet.inference.runtime import BASE_MODEL_NAME

STREAMS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stream(url: str, max_tokens: int, frames: list[str], started: threading.Event) -> None:
    body = {
        "model": BASE_MODEL_NAME,
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}],
        "max_tokens": max_tokens,
        "rag": False,
        "stream": True,
    }
    try:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as reply:
            for line in reply.iter_lines():
                if line.startswith("data: "):
                    frames.append(line[6:])
                    if '"content"' in line and len(frames) > 2:
                        started.set()
    except httpx.HTTPError as exc:
        frames.append(f"transport error: {exc!r}")


def _wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the server did not start: {proc.stderr.read() if proc.stderr else ''}")


def test_sigterm_lets_streams_end_with_a_final_frame(subprocess_env: dict[str, str]) -> None:
    port = _free_port()
    env = {**subprocess_env, "MICROFLEET_DRAIN_SECONDS": "1.5", "MICROFLEET_MAX_TOKENS_CAP": "1200"}
    args = [sys.executable, "-m", "microfleet.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        frames: list[list[str]] = [[] for _ in range(STREAMS)]
        started = [threading.Event() for _ in range(STREAMS)]
        # half can finish within the drain, half cannot
        lengths = [4 if i % 2 else 1200 for i in range(STREAMS)]
        threads = [
            threading.Thread(target=_stream, args=(url, n, f, s))
            for n, f, s in zip(lengths, frames, started, strict=True)
        ]
        for thread in threads:
            thread.start()
        for event in started:
            assert event.wait(180), "a stream never started"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        refused = _new_request(url)
        for thread in threads:
            thread.join(60)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert refused, "a new request was answered during the drain"
    finishes = [_finish(f) for f in frames]
    assert all(f in ("stop", "length", "error") for f in finishes), finishes
    assert "error" in finishes  # a 1200-token answer outlasts a 1.5 s drain on this CPU
    for stream, finish in zip(frames, finishes, strict=True):
        if finish == "error":
            assert json.loads(stream[-3])["error"]["type"] == "shutting_down"
    # uvicorn re-raises the signal once it has shut down: the exit status says "terminated"
    assert proc.returncode in (0, -signal.SIGTERM) and "Traceback" not in err, err


def _finish(stream: list[str]) -> str | None:
    """The finish_reason of the frame before [DONE]; None if the stream did not end so."""
    if len(stream) < 2 or stream[-1] != "[DONE]":
        return None
    last: dict[str, Any] = json.loads(stream[-2])
    return last["choices"][0]["finish_reason"] if last.get("choices") else None


def _new_request(url: str) -> bool:
    """Whether new work is turned away (503, or no longer any listener)."""
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 503
    except httpx.HTTPError:
        return True
