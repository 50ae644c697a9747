"""A tiny real LoRA run on the real base model, tracked and registered in real MLflow."""

from __future__ import annotations

import openai
import pytest

from microfleet.config import Settings
from microfleet.llm.base_model import load_base_model
from microfleet.micromodel.spec import FleetSpec
from microfleet.serving.service import BASE_MODEL_NAME, build_app
from microfleet.training.registry import download_adapter, list_versions, promote, tracking
from microfleet.training.runs import run_training
from microfleet.training.service import generate_dataset
from microfleet.training.trainer import generate_answers
from tests.conftest import running_server


@pytest.mark.slow
def test_tiny_run_trains_registers_and_loads_back(
    settings: Settings, tiny_fleet: FleetSpec
) -> None:
    import mlflow
    from peft import PeftModel

    spec = tiny_fleet.get("rates")
    dataset = generate_dataset(settings, tiny_fleet, spec)
    summary = run_training(settings, tiny_fleet, spec, epochs=3, max_steps=8)

    assert summary.result.steps == 8
    assert summary.result.last_loss < summary.result.first_loss
    assert {"test_loss", "perplexity", "test_metric"} <= set(summary.result.final)

    client = tracking(settings)
    run = client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["dataset_hash"] == dataset.content_hash
    assert len(client.get_metric_history(summary.run_id, "loss")) == 8
    artifacts = {a.path for a in client.list_artifacts(summary.run_id)}
    assert {"adapter", "samples.json"} <= artifacts

    versions = list_versions(client, spec.registered_name())
    assert [(v["version"], v["aliases"]) for v in versions] == [(1, ["challenger"])]

    adapter_dir = download_adapter(settings, spec.registered_name(), "challenger")
    pinned = download_adapter(settings, spec.registered_name(), "1")  # a version number
    weights = "adapter_model.safetensors"
    assert (pinned / weights).read_bytes() == (adapter_dir / weights).read_bytes()
    assert (adapter_dir / "adapter_config.json").exists()
    base, tokenizer = load_base_model(None, settings.model_cache_dir)
    before = generate_answers(base, tokenizer, spec, dataset.test)
    tuned = PeftModel.from_pretrained(base, str(adapter_dir))
    after = generate_answers(tuned, tokenizer, spec, dataset.test)
    assert before != after
    assert mlflow.get_tracking_uri().startswith("sqlite:///")

    # Promoted, it is served by name on the shared base, next to the base model itself.
    # Eight steps do not beat the base model, so the gate says no; forced, it is served.
    assert not promote(client, spec.registered_name()).promoted
    assert promote(client, spec.registered_name(), force=True).promoted
    served = settings.model_copy(  # plain generation, on the engine and dtype of the answers
        update={  # above (tests/llm/test_llamacpp.py serves a trained adapter on llama.cpp)
            "fleet": tiny_fleet.root / "fleet.yaml",
            "rag": False,
            "cache": False,
            "engine": "transformers",
            "serve_dtype": "float32",
        }
    )
    with running_server(build_app(served)) as url:
        client_ = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        models = {m.id: m for m in client_.models.list()}
        assert set(models) == {BASE_MODEL_NAME, "rates", "news", "fleet"}
        assert models["rates"].model_extra["parent"] == BASE_MODEL_NAME
        assert models["rates"].model_extra["champion"] is True
        assert models["news"].model_extra["champion"] is False  # not trained here
        served: dict[str, list[str]] = {"rates": [], BASE_MODEL_NAME: []}
        for pair in dataset.test:
            ask = [
                {"role": "system", "content": spec.system_prompt},
                {"role": "user", "content": pair.question},
            ]
            for name, answers in served.items():
                reply = client_.chat.completions.create(model=name, messages=ask, max_tokens=64)
                answers.append(reply.choices[0].message.content or "")
    # Each model id routes to its own weights: the adapter's answers are the tuned model's,
    # the base model's are those from before training (up to where a loop is cut off).
    pairs = [*zip(served["rates"], after, strict=True)]
    pairs += zip(served[BASE_MODEL_NAME], before, strict=True)
    for shown, full in pairs:
        assert shown and full.startswith(shown)
    assert served["rates"] != served[BASE_MODEL_NAME]


def test_interrupted_run_is_killed_and_registers_nothing(
    settings: Settings, tiny_fleet: FleetSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import microfleet.training.runs as runs

    spec = tiny_fleet.get("rates")
    generate_dataset(settings, tiny_fleet, spec)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "train_lora", interrupted)  # Ctrl-C arrives mid-training
    with pytest.raises(KeyboardInterrupt):
        run_training(settings, tiny_fleet, spec, max_steps=1)
    client = tracking(settings)
    experiment = client.get_experiment_by_name("microfleet-tiny")
    statuses = [r.info.status for r in client.search_runs([experiment.experiment_id])]
    assert statuses == ["KILLED"]
    assert list_versions(client, spec.registered_name()) == []
