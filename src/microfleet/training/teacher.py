"""The Teacher seam: who writes the reference answers for a micromodel's training data."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from microfleet.errors import MicrofleetError
from microfleet.llm.decoder import Decoder


class TeacherError(MicrofleetError):
    """The teacher failed for one question after its retries; that question is skipped."""


class Teacher(ABC):
    name: str

    @abstractmethod
    def answer(self, messages: list[dict[str, str]]) -> str:
        """The reference answer to a chat; raises TeacherError when it cannot give one."""

    def answer_all(self, chats: list[list[dict[str, str]]]) -> list[str | None]:
        """The answers to several chats (None where the teacher failed on one)."""
        answers: list[str | None] = []
        for chat in chats:
            try:
                answers.append(self.answer(chat))
            except TeacherError:
                answers.append(None)
        return answers


class LocalTeacher(Teacher):
    """The shared base model itself (greedy decoding), for when no stronger teacher is set; on
    the local engine's decoder (llm/decoder.py), so it runs on llama.cpp by default."""

    def __init__(self, decoder: Decoder, tokenizer: Any, max_new_tokens: int = 96) -> None:
        self.decoder, self.tokenizer, self.max_new_tokens = decoder, tokenizer, max_new_tokens
        self.name = f"local:{decoder.engine}"
        self._lock = threading.Lock()

    def answer(self, messages: list[dict[str, str]]) -> str:
        return self.answer_all([messages])[0] or ""

    def answer_all(self, chats: list[list[dict[str, str]]]) -> list[str | None]:
        """Batches on the base model: several questions cost little more than one."""
        from microfleet.llm.decode import complete_with

        step, answers = self.decoder.max_rows, []
        with self._lock:
            for start in range(0, len(chats), step):
                part = chats[start : start + step]
                answers += complete_with(
                    self.decoder.decode, self.decoder.eos, self.tokenizer, part, self.max_new_tokens
                )
        return list(answers)


class _Retryable(Exception):
    pass


class OpenAITeacher(Teacher):
    """Any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama, llama.cpp, or our own server."""

    def __init__(self, base_url: str, api_key: str | None, model: str, timeout: float = 60) -> None:
        from openai import OpenAI

        self.client = OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0
        )
        self.model = model
        self.name = f"openai:{model}@{base_url}"

    def answer(self, messages: list[dict[str, str]]) -> str:
        import openai

        try:
            return self._ask(messages)
        except (_Retryable, openai.OpenAIError) as exc:
            raise TeacherError(f"teacher failed: {str(exc).splitlines()[0][:200]}") from None

    @retry(
        retry=retry_if_exception_type(_Retryable),
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=0.5, max=8),
        reraise=True,
    )
    def _ask(self, messages: list[dict[str, str]]) -> str:
        import openai

        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=0,
            )
        except (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.RateLimitError,
            openai.InternalServerError,
        ) as exc:
            raise _Retryable(str(exc)) from None
        content = response.choices[0].message.content if response.choices else None
        if not content:
            raise _Retryable("the teacher returned an empty answer")
        return content.strip()
