"""The default local decoder: the bundled GGUF run by llama.cpp (llama-cpp-python's C API).

llama.cpp computes on the GGUF's own 4-bit weights, several times faster on a CPU than a
dequantized copy in torch (bench/decode.py measures both against llama-cpp-python's `Llama`).
It keeps what makes the engine a fleet engine:
- each micromodel's PEFT adapter, converted to a GGUF LoRA (llm/gguf_lora.py), is loaded once,
  and set once on a context of its own (the base model has one too); each adapter's rows
  decode together, in its context, and a batch that mixes adapters runs them in lanes, one
  thread each, every lane token after token at its own pace (`_race`);
- a context holds each of its rows as its own sequence, in a KV stream of its own, so rows
  need no padding; rows that share a prompt prefix compute it once, and the others copy its
  cache (`seq_cp`);
- the tokens, the JSON-schema guides and sampling are the engine's own, row by row.

A batch answers exactly as each of its rows alone, token for token (tests/llm/test_llamacpp.py):
each row has its own KV stream and its own prefill pass, and flash attention stays off (its
tiled prefill rounds a long prompt differently from a prompt cut in two). The model is the
bundled GGUF requantized to Q4_0 for ggml's batched kernels (llm/llamacpp_model.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from microfleet.core.threads import single
from microfleet.errors import UserError
from microfleet.llm.base_model import smollm2_dir
from microfleet.llm.decode import (
    GREEDY,
    Sampling,
    by_adapter,
    guided_pick,
    lanes_of,
    shared_clusters,
    took,
)
from microfleet.llm.decoder import Admit, Decoder, Joining, OnToken
from microfleet.llm.llamacpp_model import load_model, new_context, repacked_gguf
from microfleet.llm.llamacpp_run import Pass, Run, neighbours, passes_of

BATCH_TOKENS = 512  # tokens per llama_decode call (prefill is split into such chunks)
# A pass of one token runs on one thread: a single row's matrices are too small to share, and
# ggml's spinning workers then compete with the server's own thread (one stream measured 90-110
# tok/s through the engine on two threads, 156-164 on one). Passes of two tokens or more use
# every thread: under `serve`, a plain request decoding beside a tools request took 1.55x its
# time alone with them, against 2.04x when passes under 8 tokens ran on one thread, and 8
# concurrent requests 1.40x the throughput of 8 in a row, against 0.88-1.12 (bench/serve.py).
SMALL_PASS = 2
RACE_S = 0.5  # s that lanes run on their own at most before they are dealt again
_init = threading.Lock()
_quiet: list[Any] = []  # the log callback, kept alive while llama.cpp may call it


def llama_lib() -> Any:
    """llama-cpp-python's C API, with llama.cpp's own logging silenced once."""
    try:
        import llama_cpp
    except ImportError:
        raise UserError("llama-cpp-python is not installed; run `make install`") from None
    with _init:
        if not _quiet:
            _quiet.append(llama_cpp.llama_log_callback(lambda _level, _text, _data: None))
            llama_cpp.llama_log_set(_quiet[0], None)
            llama_cpp.llama_backend_init()
    return llama_cpp


class LlamaCppDecoder(Decoder):
    """One llama.cpp model and context; `decode` runs on one thread at a time (the engine's)."""

    engine = "llama.cpp"
    joins = True
    torch_pool = False  # ggml has threads of its own

    def __init__(
        self, gguf: Path, adapters: dict[str, Path], threads: int, rows: int, context: int
    ) -> None:
        lib = self._lib = llama_lib()
        self.max_rows, self.context, self._threads = rows, context, threads
        self._model = load_model(lib, gguf)
        vocab = lib.llama_model_get_vocab(self._model)
        self.vocab_size = int(lib.llama_vocab_n_tokens(vocab))
        self.eos = frozenset(t for t in range(self.vocab_size) if lib.llama_vocab_is_eog(vocab, t))
        self._adapters = {name: self._load_adapter(name, path) for name, path in adapters.items()}
        self.adapters = frozenset(self._adapters)
        self._contexts: dict[str | None, Any] = {}  # per adapter (None: the base model)
        self._batches: dict[str | None, Any] = {}  # and a batch for each: lanes run at once
        self._open = True
        for name in [None, *sorted(self._adapters)]:  # all at once: a first request for an
            self._contexts[name] = self._make_context(name)  # adapter waits for no KV cache
            self._batches[name] = lib.llama_batch_init(BATCH_TOKENS, 0, 1)
        self._lanes = (  # its threads pick tokens too: torch single-threaded there
            ThreadPoolExecutor(threads - 1, "llama-lane", initializer=single)
            if threads > 1
            else None
        )
        self._per_row: dict[str | None, float] = {}  # s a row of a one-thread step, by adapter

    def close(self) -> None:
        """Free the batch, the contexts (their KV caches) and the model with its adapters, once."""
        if not self._open:
            return
        self._open = False
        lib = self._lib
        if self._lanes is not None:
            self._lanes.shutdown()
        for batch in self._batches.values():
            lib.llama_batch_free(batch)
        for context in self._contexts.values():
            lib.llama_free(context)
        self._contexts.clear()
        lib.llama_model_free(self._model)  # frees its adapters too

    def __del__(self) -> None:  # a decoder nobody closed (a teacher) frees its memory too
        with contextlib.suppress(Exception):  # at interpreter exit the library may go first
            self.close()

    def _context(self, name: str | None) -> Any:
        """The context that decodes `name`'s rows (None: the base model's)."""
        if name not in self._contexts:
            raise ValueError(f"no adapter named {name!r} is loaded")
        return self._contexts[name]

    def _make_context(self, name: str | None) -> Any:
        """A context with `name`'s adapter set, once. One context per adapter: setting another
        adapter on a context makes llama.cpp re-plan its compute graph (about 5 ms each time,
        measured), and a step that visits three adapters would pay it three times."""
        lib = self._lib
        context = new_context(
            lib, self._model, self._threads, self.max_rows, self.context, BATCH_TOKENS
        )
        if name is not None:
            chosen = (lib.llama_adapter_lora_p_ctypes * 1)(self._adapters[name])
            lib.llama_set_adapters_lora(context, chosen, 1, (ctypes.c_float * 1)(1.0))
        return context

    def _load_adapter(self, name: str, path: Path) -> Any:
        adapter = self._lib.llama_adapter_lora_init(self._model, str(path).encode())
        if not adapter:
            raise UserError(f"llama.cpp could not load the adapter {name} from {path}")
        return adapter

    def decode(
        self,
        prompts: Sequence[Sequence[int]],
        on_token: OnToken,
        sampling: Sampling = GREEDY,
        adapters: Sequence[str | None] | None = None,
        guides: Sequence[Any] | None = None,
        admit: Admit | None = None,
    ) -> int:
        if not self._open:
            raise RuntimeError("the llama.cpp decoder is closed")
        if len(prompts) > self.max_rows:
            raise ValueError(f"{len(prompts)} rows; the context holds {self.max_rows}")
        names = list(adapters or [None] * len(prompts))
        streams = sampling.streams or [None] * len(prompts)
        run = Run(sampling)
        try:  # the caches are empty: fresh contexts, or the last batch cleared them
            self._join(run, [
                Joining(list(p), name, guides[i] if guides else None, streams[i])
                for i, (p, name) in enumerate(zip(prompts, names, strict=True))
            ])  # fmt: skip
            while run.alive:
                joining: list[Joining] = []
                if self._lanes is not None and len({run.names[r] for r in run.alive}) > 1:
                    run.alive, joining = self._race(run, on_token, admit)
                else:
                    run.alive = self._tick(run, run.alive, on_token, alone=True)
                if admit is not None and not joining:
                    joining = admit(self.max_rows - len(run.alive))
                if joining:
                    self._join(run, joining)
            return run.computed
        finally:
            for context in self._contexts.values():
                self._lib.llama_memory_clear(self._lib.llama_get_memory(context), False)

    def _tick(self, run: Run, rows: list[int], on_token: OnToken, alone: bool) -> list[int]:
        """One token for each of `rows`: picked from its logits, handed to `on_token`, and
        decoded for its next logits unless the row is finished; the rows still going. Not
        `alone` (in a lane, beside others): each adapter's pass runs on this thread."""
        tokens = guided_pick(run.next_logits(rows), run.sampling(rows), run.guides_of(rows))
        going = []
        for row, token in zip(rows, tokens.tolist(), strict=True):
            # a row whose KV stream is full ends there (its answer is cut)
            if took(on_token, row, token, run.guides[row]) or run.positions[row] >= self.context:
                self._free(run, row)
            else:
                going.append((row, token))
        if going:  # each adapter's rows in a pass of their own, one after another
            passes = passes_of(going, run.positions, run.names)
            run.logits.update(self._lane(passes, run.seqs, alone=alone))
            for row, _ in going:
                run.positions[row] += 1
        return [row for row, _ in going]

    def _race(
        self, run: Run, on_token: OnToken, admit: Admit | None
    ) -> tuple[list[int], list[Joining]]:
        """Decode the rows dealt into lanes by adapter, each lane token after token on a
        thread of its own; return the rows still going and those that asked to join. A lane
        waits for no other lane's pass, so one that costs more a token (a wider adapter, more
        rows) leaves no core idle (in lockstep, every token waited for the slowest lane). The
        lanes stop, to be dealt again, once one has no rows left, rows ask to join (this
        thread's lane asks `admit` after each of its tokens), one fails, or RACE_S has passed.
        `on_token` and `admit` are called by one lane at a time."""
        alive, room = run.alive, self.max_rows - len(run.alive)
        groups = by_adapter([run.names[row] for row in alive])
        passes = [(run.names[alive[group[0]]], [alive[j] for j in group]) for group in groups]
        lanes = lanes_of(passes, self._threads, self._per_row)
        deadline, lock, stop = time.perf_counter() + RACE_S, threading.Lock(), threading.Event()
        joining: list[Joining] = []

        def one_at_a_time(row: int, token: int) -> bool:
            with lock:
                return on_token(row, token)

        def drive(lane: list[tuple[str | None, list[int]]], admits: bool) -> list[int]:
            rows = sorted(row for _, rows in lane for row in rows)
            try:
                while rows:  # a token at least, whenever the lanes stop
                    rows = self._tick(run, rows, one_at_a_time, alone=False)
                    if admits and admit is not None:
                        with lock:
                            joining.extend(admit(room))
                    if not rows or joining or time.perf_counter() >= deadline:
                        stop.set()
                    if stop.is_set():
                        break
            except BaseException:
                stop.set()  # the other lanes end at their next token, and the batch fails
                raise
            return rows

        assert self._lanes is not None
        others = [self._lanes.submit(drive, lane, False) for lane in lanes[1:]]
        try:
            going = drive(lanes[0], True)  # this thread drives a lane too
        finally:  # no lane may still be decoding when the batch ends
            wait(others)
        for other in others:
            going += other.result()
        return sorted(going), joining

    def _join(self, run: Run, rows: list[Joining]) -> None:
        """Add `rows` to the batch, each in the lowest free sequence of its adapter's
        context, and prefill them."""
        for row in rows:
            if len(row.prompt) >= self.context:
                raise ValueError(f"a prompt longer than the context window ({self.context} tokens)")
            self._context(row.adapter)  # an unknown adapter fails here
        new = run.add(rows)
        computed, logits = self._prefill(new, run.prompts, run.names, run.seqs)
        run.computed += computed
        run.logits.update(logits)

    def _free(self, run: Run, row: int) -> None:
        """A finished row's KV stream, emptied for the next row of its adapter."""
        memory = self._lib.llama_get_memory(self._context(run.names[row]))
        self._lib.llama_memory_seq_rm(memory, run.seqs[row], -1, -1)

    def _prefill(
        self,
        new: list[int],
        prompts: Sequence[Sequence[int]],
        names: list[str | None],
        seqs: list[int],
    ) -> tuple[int, dict[int, Any]]:
        """(positions computed, next-token logits of the `new` rows): per adapter, rows that
        share a prefix compute it once in the first row's sequence, which the others then copy.
        The rows' own tokens then go in passes of rows with as many tokens each, starting at
        the same position: a pass that mixes lengths may round a row differently from its
        single run (measured), and one pass per row would cost the fan-out its batching."""
        out: dict[int, Any] = {}
        computed = 0
        for group in by_adapter([names[row] for row in new]):
            rows = [new[j] for j in group]
            context = self._context(names[rows[0]])
            clusters = shared_clusters(rows, prompts)
            items: dict[tuple[int, int], list[tuple[int, Sequence[int], int]]] = {}
            for cluster, shared in clusters:
                for row in cluster:
                    own = prompts[row][shared:]
                    items.setdefault((shared, len(own)), []).append((row, own, shared))
                    computed += len(own)
            neighbours([[row for row, _, _ in same] for same in items.values()], seqs)
            for cluster, shared in clusters:
                if shared:
                    first = cluster[0]
                    self._feed(names[first], [(first, prompts[first][:shared], 0)], seqs, False)
                    memory = self._lib.llama_get_memory(context)
                    for row in cluster[1:]:  # a whole-sequence copy: its cache holds the prefix
                        self._lib.llama_memory_seq_cp(memory, seqs[first], seqs[row], -1, -1)
                    computed += shared
            for same in items.values():
                out.update(self._feed(names[rows[0]], same, seqs))
        return computed, out

    def _lane(self, passes: list[Pass], seqs: list[int], alone: bool) -> dict[int, Any]:
        """The logits of `passes`, one after another on this thread; a lane that runs beside
        others (not `alone`) measures each adapter's time per row for the next dealing."""
        out: dict[int, Any] = {}
        for name, items in passes:
            started = time.perf_counter()
            out.update(self._feed(name, items, seqs, alone=alone))
            if not alone:  # a moving average: what lanes_of deals by
                spent = (time.perf_counter() - started) / len(items)
                self._per_row[name] = 0.8 * self._per_row.get(name, spent) + 0.2 * spent
        return out

    def _feed(
        self,
        name: str | None,
        items: Sequence[tuple[int, Sequence[int], int]],
        seqs: list[int],
        logits: bool = True,
        alone: bool = True,
    ) -> dict[int, Any]:
        """Decode each (row, tokens, first position) in the row's sequence (`seqs[row]`) of
        adapter `name`'s context, BATCH_TOKENS at a time; the logits after each row's last
        token. The rows go in order of their sequences: llama.cpp splits a batch whose
        sequences come out of order into more passes (measured: 27 rows took twice as long).
        A pass that is not `alone` (other lanes run beside it) runs on one thread."""
        context, batch, out = self._context(name), self._batches[name], {}
        wanted: list[tuple[int, int]] = []
        batch.n_tokens = 0
        for row, tokens, start in sorted(items, key=lambda item: seqs[item[0]]):
            for i, token in enumerate(tokens):
                if batch.n_tokens == BATCH_TOKENS:
                    out.update(self._run(context, batch, wanted, alone))
                    wanted = []
                last = logits and i == len(tokens) - 1
                j = batch.n_tokens
                batch.token[j], batch.pos[j] = token, start + i
                batch.n_seq_id[j], batch.seq_id[j][0], batch.logits[j] = 1, seqs[row], last
                if last:
                    wanted.append((row, j))
                batch.n_tokens = j + 1
        if batch.n_tokens:
            out.update(self._run(context, batch, wanted, alone))
        return out

    def _run(
        self, context: Any, batch: Any, wanted: list[tuple[int, int]], alone: bool
    ) -> dict[int, Any]:
        import numpy as np
        import torch

        threads = self._threads if alone and batch.n_tokens >= SMALL_PASS else 1
        self._lib.llama_set_n_threads(context, threads, threads)
        code = self._lib.llama_decode(context, batch)
        batch.n_tokens = 0
        if code != 0:
            raise RuntimeError(f"llama.cpp could not decode this batch (code {code}): too long?")
        rows = {}
        for row, j in wanted:
            pointer = self._lib.llama_get_logits_ith(context, j)
            rows[row] = torch.from_numpy(np.ctypeslib.as_array(pointer, (self.vocab_size,)).copy())
        return rows


def bundled_decoder(
    cache_dir: Path,
    adapters: dict[str, tuple[Path, str]],
    threads: int = 0,
    rows: int = 8,
    context: int = 2048,
) -> tuple[LlamaCppDecoder, Any]:
    """The bundled SmolLM2 GGUF on llama.cpp with `adapters` ({name: (PEFT directory,
    version)}, converted to GGUF LoRA once under `cache_dir`), and its tokenizer."""
    from transformers import AutoTokenizer

    from microfleet.llm.gguf_lora import convert_adapter
    from microfleet.llm.smollm2 import SMOLLM2_GGUF, smollm2_package_dir

    base = smollm2_dir(cache_dir)  # the tokenizer, and the shapes of the layers
    config = json.loads((base / "config.json").read_text())
    converted = {}
    for name, (path, version) in adapters.items():
        target = cache_dir / "gguf-lora" / f"{name}-{version}.gguf"
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}.part")
            convert_adapter(path, partial, config).replace(target)
        converted[name] = target
    gguf = repacked_gguf(llama_lib(), smollm2_package_dir() / SMOLLM2_GGUF, cache_dir)
    decoder = LlamaCppDecoder(gguf, converted, threads or os.cpu_count() or 1, rows, context)
    return decoder, AutoTokenizer.from_pretrained(base)
