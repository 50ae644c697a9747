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
    # A decoder that computes on torch keeps the whole pool; the default one (llama.cpp,
    # ggml's own threads) uses torch only to pick tokens, single-threaded: waking a team for
    # a 49,152-wide argmax while the other core served HTTP cost about 0.5 ms a token.
    decoder = runtime.engine.decoder
    assert engine_threads.result(timeout=60) == (default if decoder.torch_pool else 1)
    assert decoder.engine == "llama.cpp" and not decoder.torch_pool


def test_embedding_on_an_executor_thread_goes_single_threaded(runtime: Runtime) -> None:
    import torch

    def embed_then_count() -> int:
        runtime.features.embedder.embed(["one question"])
        return int(torch.get_num_threads())

    assert _on_new_thread(embed_then_count) == 1
