"""Dataset generation with an OpenAI-compatible teacher: our own server, started in the test."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from microfleet.config import Settings
from microfleet.errors import UserError
from microfleet.micromodel.spec import FleetSpec
from microfleet.serving.service import BASE_MODEL_NAME, build_app
from microfleet.training.service import generate_dataset, make_teacher
from tests.conftest import running_server


def test_openai_compatible_teacher(settings: Settings, tiny_fleet: FleetSpec) -> None:
    # The teacher server has its own data dir, and answers the prompt it is given (no retrieval).
    teacher_home = settings.model_copy(
        update={"home": settings.home.parent / "teacher", "rag": False}
    )
    with running_server(build_app(teacher_home, with_micromodels=False)) as url:
        configured = settings.model_copy(
            update={
                "teacher_url": f"{url}/v1",
                "teacher_model": BASE_MODEL_NAME,
                "teacher_api_key": SecretStr("k"),
            }
        )
        teacher = make_teacher(configured)
        assert teacher.name.startswith("openai:")
        result = generate_dataset(configured, tiny_fleet, tiny_fleet.get("news"), teacher=teacher)
    pairs = result.train + result.test
    assert len(pairs) == 2 and all(p.answer for p in pairs)


def test_a_teacher_that_is_down_gives_one_clear_error(
    settings: Settings, tiny_fleet: FleetSpec
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = settings.model_copy(update={"teacher_url": f"http://127.0.0.1:{port}/v1"})
    with pytest.raises(UserError, match="the teacher failed on all 2 questions"):
        generate_dataset(down, tiny_fleet, tiny_fleet.get("news"), teacher=make_teacher(down))
