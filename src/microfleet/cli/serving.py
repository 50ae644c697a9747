"""Serving commands: serve, ask, chat. Thin: parse, call the inference pipeline, print."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import typer

from microfleet.cli.errors import friendly_errors
from microfleet.config import Settings
from microfleet.micromodel.spec import FLEET_MODEL

Printer = Callable[[str], None]
UrlOption = Annotated[
    str | None,
    typer.Option(help="Ask a running server (e.g. http://127.0.0.1:8000) instead of in-process."),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        help="A model id from /v1/models (default: fleet, the orchestrator, when the fleet file "
        "has micromodels; else the base model)."
    ),
]


@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (MICROFLEET_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (MICROFLEET_PORT).")] = None,
) -> None:
    """Serve the OpenAI-compatible API: chat (JSON, SSE, WebSocket), search, ingest, health."""
    from microfleet.serving.access import access_to_stderr
    from microfleet.serving.deps import server_of
    from microfleet.serving.drain import serve as run_server
    from microfleet.serving.service import build_app

    settings = Settings()
    app = build_app(settings)
    if settings.access_log:
        access_to_stderr()
    host, port = host or settings.host, port or settings.port
    typer.echo(_banner(settings, f"http://{host}:{port}"), err=True)
    run_server(app, host, port, server_of(app).drain)


@friendly_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    model: ModelOption = None,
    url: UrlOption = None,
    max_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
    rag: Annotated[bool, typer.Option(help="Ground the answer in the knowledge base.")] = True,
    trace: Annotated[
        bool, typer.Option("--trace", help="With the fleet model: print the micromodel calls.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One question: the answer streams to the terminal, then its numbered sources.

    By default the orchestrator (model `fleet`) answers: it calls the fleet's micromodels as
    tools, and answers other questions from the knowledge base. `--model` picks another.
    """
    out: Printer = (lambda _: None) if as_json else _write
    with Session(url, model, max_tokens, rag, session=None) as session:
        reply = session.ask(question, out)
    if as_json:
        typer.echo(json.dumps(reply))
        return
    _print_sources(reply["sources"])
    if trace and reply.get("trace"):
        _print_trace(reply["trace"])


@friendly_errors
def chat(
    model: ModelOption = None,
    url: UrlOption = None,
    session: Annotated[
        str | None, typer.Option(help="Resume a conversation by its id (default: a new one).")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
    rag: Annotated[bool, typer.Option(help="Ground answers in the knowledge base.")] = True,
) -> None:
    """A conversation with memory: each answer sees the earlier turns. Ctrl-D or `exit` ends it."""
    with Session(url, model, max_tokens, rag, session or uuid.uuid4().hex) as chat_session:
        typer.echo(f"session {chat_session.session} (resume with --session)", err=True)
        _converse(chat_session)


def _converse(chat_session: Session) -> None:
    while True:
        try:
            question = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("", err=True)
            return
        if question in ("exit", "quit"):
            return
        if question:
            _write("bot> ")
            _print_sources(chat_session.ask(question, _write)["sources"])


class Session:
    """Asks in-process (the runtime is loaded on first use) or through a server's API."""

    def __init__(
        self, url: str | None, model: str | None, max_tokens: int, rag: bool, session: str | None
    ) -> None:
        self.url, self.model, self.max_tokens = url, model, max_tokens
        self.rag, self.session = rag, session
        self._runtime: Any = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop an in-process runtime's engine and wait for it: a process that exits while the
        engine thread still decodes (a row the repeat guard cut short) aborts in llama.cpp."""
        if self._runtime is not None:
            runtime, self._runtime = self._runtime, None
            asyncio.run(runtime.close())

    def ask(self, question: str, out: Printer) -> dict[str, Any]:
        """{answer, sources, cached, trace}; the answer is also streamed to `out`."""
        if self.url:
            return _ask_server(self, question, out)
        if self._runtime is None:
            from microfleet.inference.runtime import build_runtime

            self._runtime = build_runtime(Settings())
        return asyncio.run(_ask_local(self, question, out))


async def _ask_local(session: Session, question: str, out: Printer) -> dict[str, Any]:
    from microfleet.inference.turns import Turn

    runtime = session._runtime
    turn = Turn(
        model=session.model or runtime.default_model,
        messages=[{"role": "user", "content": question}],
        max_tokens=session.max_tokens,
        session=session.session,
        rag=session.rag,
    )
    prepared = await runtime.assistant.prepare(turn)
    parts = []
    async for delta in runtime.assistant.stream(prepared):
        parts.append(delta.text)
        out(delta.text)
    out("\n")
    return _reply("".join(parts), prepared.sources, prepared.cached, prepared.fleet_trace)


def _reply(
    text: str, sources: list[dict[str, Any]], cached: str | None, trace: Any
) -> dict[str, Any]:
    return {"answer": text.strip(), "sources": sources, "cached": cached, "trace": trace}


def _ask_server(session: Session, question: str, out: Printer) -> dict[str, Any]:
    import os

    import openai

    from microfleet.errors import MicrofleetError

    client = openai.OpenAI(
        base_url=f"{str(session.url).rstrip('/')}/v1",
        api_key=os.environ.get("MICROFLEET_API_KEY", "none"),
    )
    extra: dict[str, Any] = {"rag": session.rag}
    headers = {"X-Session-Id": session.session} if session.session else {}
    try:
        model = session.model or _default_model([m.id for m in client.models.list().data])
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": question}],
            max_tokens=session.max_tokens,
            stream=True,
            extra_body=extra,
            extra_headers=headers,
        )
        reply = _read_stream(stream, out)
    except openai.APIStatusError as exc:
        raise MicrofleetError(f"{session.url}: {exc.status_code} {_message(exc)}") from None
    except openai.APIConnectionError:
        raise MicrofleetError(
            f"cannot reach {session.url}; is `microfleet serve` running?"
        ) from None
    out("\n")
    return reply


def _default_model(listed: list[str]) -> str:
    """The server's orchestrator where it has one, else the first model it lists."""
    return FLEET_MODEL if FLEET_MODEL in listed else listed[0]


def _read_stream(stream: Any, out: Printer) -> dict[str, Any]:
    """Print the content deltas; collect the extensions the final chunk carries."""
    parts: list[str] = []
    extras: dict[str, Any] = {"sources": [], "cached": None, "trace": None}
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
                out(choice.delta.content)
        for key in extras:
            extras[key] = (chunk.model_extra or {}).get(key) or extras[key]
    return _reply("".join(parts), extras["sources"], extras["cached"], extras["trace"])


def _banner(settings: Settings, url: str) -> str:
    auth = ' -H "Authorization: Bearer $KEY"' if settings.api_keys_text() else ""
    body = (
        '{"model": "smollm2-135m-instruct", "stream": true, '
        '"messages": [{"role": "user", "content": "What can you help me with?"}]}'
    )
    return (
        f"microfleet is serving an OpenAI-compatible API at {url}/v1 (Ctrl-C stops it)\n"
        f"  playground: {url}/\n"
        f"  models:  curl{auth} {url}/v1/models\n"
        f"  ask:     curl -N{auth} {url}/v1/chat/completions "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )


def _message(exc: Any) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    return str(body.get("message") or body.get("error", {}).get("message") or exc.message)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _print_sources(sources: list[dict[str, Any]]) -> None:
    for source in sources:
        where = f" <{source['url']}>" if source.get("url") else ""
        typer.echo(f"  [{source['index']}] {source['title']}{where}")


def _print_trace(trace: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    rounds = trace.get("rounds", 1)
    tree = Tree(escape(f"fleet (router: {trace['router']}, {rounds} round(s))"))
    for call in trace["calls"]:
        args = ", ".join(f"{k}={v}" for k, v in call["arguments"].items())
        status = f"error: {call['error']}" if call["error"] else call["output"]
        head = f"{call['name']}({args})  {call['latency_ms']:.0f} ms  adapter: {call['adapter']}"
        if rounds > 1:
            head = f"round {call.get('round', 1)}: {head}"
        tree.add(escape(head)).add(escape(str(status)))
    for dropped in trace["dropped"]:
        tree.add(escape(f"dropped {dropped['name']}: {dropped['error']}"))
    for note in trace["notes"]:
        tree.add(escape(f"note: {note}"))
    Console().print(tree)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(ask)
    app.command()(chat)
