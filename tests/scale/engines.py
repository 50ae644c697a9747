"""Real scale-out engines as local processes on 127.0.0.1, each on a free port with its data in
a temp dir: a private PostgreSQL 15 cluster, Redis, and an MLflow tracking server on
PostgreSQL. Each helper is a context manager that stops its engine on exit."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(ready: object, what: str, seconds: float = 120) -> None:
    """Poll `ready()` until it is true; fail with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if ready():  # type: ignore[operator]
                return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str], health: str, what: str, log: Path | None = None
) -> Iterator[None]:
    """`args` running (its output in `log`, else discarded) until the block ends, once GET
    `health` answers 200 (within 10 minutes)."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        running = subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        wait_for(lambda: httpx.get(health).status_code == 200, what, 600)
        yield
    finally:
        running.terminate()
        running.wait(60)


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: as root, they run as `postgres`."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A private cluster in a temp dir of its own (as root, the `postgres` user must reach
    it, so not under pytest's private tmp); yields `postgresql+psycopg2://...@127.0.0.1:PORT`
    (append a database name; `create_database` makes one)."""
    with tempfile.TemporaryDirectory(prefix="microfleet-postgres-") as tmp:
        root = Path(tmp)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        with _cluster(root) as url:
            yield url


@contextlib.contextmanager
def _cluster(root: Path) -> Iterator[str]:
    data, port = root / "pgdata", free_port()
    run = _as_postgres
    subprocess.run(
        run([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "microfleet", "-A", "trust"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    start = [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w", "start"]
    subprocess.run(run([*start, "-l", str(root / "log")]), check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql+psycopg2://microfleet@127.0.0.1:{port}"
    finally:
        stop = [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run(run(stop), check=False, stdout=subprocess.DEVNULL)


def create_database(server: str, name: str) -> str:
    """A new database on the cluster at `server`; its SQLAlchemy URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{server}/{name}"


@contextlib.contextmanager
def redis(root: Path) -> Iterator[str]:
    """redis-server on a free port (nothing saved to disk); yields its redis:// URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: `make test-scale` installs it with apt")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(root)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        import redis as client

        wait_for(lambda: client.Redis(port=port).ping(), "redis-server", 30)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def mlflow_server(backend: str, artifacts: Path) -> Iterator[str]:
    """`mlflow server` on PostgreSQL (`backend`), proxying artifacts under `artifacts`."""
    port = free_port()
    args = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with process(args, {}, f"{url}/health", "the MLflow server"):
        yield url


@contextlib.contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    """`microfleet serve` in a process of its own with `env` (MICROFLEET_*), on a free port."""
    port = free_port()
    args = [sys.executable, "-m", "microfleet.cli", "serve"]
    url = f"http://127.0.0.1:{port}"
    with process(args, {**env, "MICROFLEET_PORT": str(port)}, f"{url}/readyz", "serve"):
        yield url


VLLM_PYTHON = Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


@contextlib.contextmanager
def vllm(model: Path, name: str, adapters: dict[str, Path], log: Path) -> Iterator[str]:
    """vLLM's CPU build (its own venv, `make test-scale`) serving `model` as `name` and each
    PEFT adapter by its name, with runtime adapter loading on; yields its /v1 base URL."""
    if not VLLM_PYTHON.exists():
        raise RuntimeError(f"{VLLM_PYTHON} is missing: `make test-scale` installs vLLM there")
    port = free_port()
    args = [
        str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model), "--served-model-name", name,
        "--dtype", "bfloat16", "--max-model-len", "2048", "--max-num-seqs", "8",
        "--enable-lora", "--max-lora-rank", "16", "--max-loras", "2",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    if adapters:
        args += ["--lora-modules", *[f"{n}={p}" for n, p in adapters.items()]]
    env = {
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
    }
    url = f"http://127.0.0.1:{port}/v1"
    with process(args, env, f"{url}/models", "vLLM", log):
        yield url
