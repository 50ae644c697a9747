"""The scale-out backend: any OpenAI-compatible server (vLLM --enable-lora, LoRAX, llama.cpp,
Ollama, OpenAI). A micromodel is served there as an adapter whose name is the `model`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

from microfleet.llm.generator import BackendUnavailable, Delta, Generator, Messages


class OpenAIGenerator(Generator):
    """`name` is what our clients ask for; `remote_model` is what the server calls it."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        name: str,
        remote_model: str | None = None,
        parent: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.name, self.parent = name, parent
        self.remote_model = remote_model or name
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout, max_retries=2
        )

    async def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float,
        schema: dict[str, Any] | None = None,
        stop: Sequence[str] = (),
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> AsyncIterator[Delta]:
        extra: dict[str, Any] = {"stop": list(stop)} if stop else {}
        extra |= {"top_p": top_p} if top_p < 1 else {}
        extra |= {"seed": seed} if seed is not None else {}
        if schema is not None:  # the server's own structured output decodes under the schema
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "result", "schema": schema, "strict": True},
            }
        try:
            response = await self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.remote_model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            )
        except (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.InternalServerError,
        ) as exc:
            raise BackendUnavailable(f"{self.client.base_url}: {exc}") from None
        async with response:
            async for delta in _deltas(response):
                yield delta

    async def ready(self) -> bool:
        try:
            await self.client.models.list()
        except openai.OpenAIError:
            return False
        return True

    async def close(self) -> None:
        await self.client.close()


async def _deltas(response: Any) -> AsyncIterator[Delta]:
    """Chunks to Deltas; the finish reason and the usage chunk become one final Delta."""
    finish: str | None = None
    usage = None
    async for chunk in response:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices[:1]:
            if choice.delta.content:
                yield Delta(choice.delta.content)
            finish = choice.finish_reason or finish
    yield Delta(
        "",
        finish or "stop",
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
    )


def served_models(base_url: str, api_key: str | None, timeout: float = 10.0) -> set[str] | None:
    """The model ids the server lists at `/models` (None: it could not be asked)."""
    try:
        client = openai.OpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout)
        return {model.id for model in client.models.list()}
    except openai.OpenAIError:
        return None


def load_adapter(base_url: str, api_key: str | None, name: str, path: str) -> None:
    """Serve the PEFT adapter at `path` (a path the server can read) as model `name` on a
    running vLLM, replacing one of that name (`/load_lora_adapter`, which vLLM enables with
    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    root = base_url.rstrip("/")
    with httpx.Client(headers=headers, timeout=120) as client:
        client.post(f"{root}/unload_lora_adapter", json={"lora_name": name})  # may not be there
        loaded = client.post(
            f"{root}/load_lora_adapter", json={"lora_name": name, "lora_path": path}
        )
    if loaded.status_code != 200:
        raise BackendUnavailable(
            f"{root} did not load the adapter {name}: {loaded.status_code} {loaded.text[:200]}"
        )
