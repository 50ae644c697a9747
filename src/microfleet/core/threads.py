"""One CPU thread pool per serving process, owned by the generation engine's thread.

torch's CPU backend is GNU OpenMP, which gives every thread that runs a parallel op its own
team of worker threads. Between parallel regions the workers spin, but only while the
process's OpenMP threads fit the cores; with more (the main thread's team from loading the
models, an executor thread's from embedding a question, and the engine's), every team drops
to futex sleeps and wake-ups, and decoding on 2 cores runs about a third slower (measured by
bench/serve.py: 0.6 of bare `generate()` tokens/s before this module, about 1.0 after).

So a process that serves the local model calls `reserve_for_engine()` before loading anything:
from then on, torch work on any thread other than the engine's is single-threaded (one
question's embedding does not need two cores), and the engine thread keeps the whole pool.
Processes that do not serve (ingestion, training) are untouched.
"""

from __future__ import annotations

import threading

_this_thread = threading.local()
_engine_owns_pool = False


def reserve_for_engine() -> None:
    """From now on, torch runs single-threaded outside the engine thread (this thread too)."""
    global _engine_owns_pool
    _engine_owns_pool = True
    share()


def engine_owns_pool() -> bool:
    """Whether this process serves a local model (other libraries' pools: one thread too)."""
    return _engine_owns_pool


def claim() -> None:
    """Called on the engine thread: it keeps torch's default thread count."""
    _this_thread.settled = True


def single() -> None:
    """This thread's torch work runs single-threaded, whoever owns the pool: a thread that
    picks tokens from logits another library computed (a 49,152-wide argmax) gains nothing
    from a team, and waking one while the other core serves HTTP cost about 0.5 ms a token."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.get_num_threads()  # torch sets each thread's OpenMP count on its first use: do it first
    threadpool_limits(1, user_api="openmp")  # omp_set_num_threads: this thread only
    _this_thread.settled = True


def share() -> None:
    """Call before torch work on any thread; single-threaded once the engine owns the pool."""
    if _engine_owns_pool and not getattr(_this_thread, "settled", False):
        single()
