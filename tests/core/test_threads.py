"""A serving runtime gives torch's CPU thread pool to the engine thread alone."""

from __future__ import annotations

import threading
from typing import Any

from microfleet.core import threads
from microfleet.inference.runtime import Runtime


def _on_new_thread(fn: Any) -> Any:
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(fn()))
    worker.start()
    worker.join()
    return result[0]


def test_other_threads_run_single_threaded_beside_the_engine(runtime: Runtime) -> None:
    import torch

    def probe() -> tuple[int, int]:
        default = torch.get_num_threads()
        threads.share()  # what every embedding call does first
        return default, torch.get_num_threads()

    default, shared = _on_new_thread(probe)
    assert shared == 1
    assert runtime.engine is not None
    engine_threads = runtime.engine.call(lambda model, tokenizer: torch.get_num_threads())
    assert engine_threads.result(timeout=60) == default


def test_embedding_on_an_executor_thread_goes_single_threaded(runtime: Runtime) -> None:
    import torch

    def embed_then_count() -> int:
        runtime.features.embedder.embed(["one question"])
        return int(torch.get_num_threads())

    assert _on_new_thread(embed_then_count) == 1
