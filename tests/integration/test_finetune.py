"""Fine-tuning for real, small: SmolLM2-135M (dequantized from its GGUF) learns a house answer from
a dozen examples on the project's served prompt; the adapter is saved, reloaded from disk by the
`transformers` generator, served through /api/ask, merged into a standalone model, registered in
the project's store; bad inputs are one-line errors. A few optimizer steps each, on CPU."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmpilot import factory
from llmpilot.cli import app as cli_app
from llmpilot.config import GeneratorConfig
from llmpilot.errors import ConfigError
from llmpilot.finetune.base import resolve_base
from llmpilot.finetune.context import with_retrieved_context
from llmpilot.finetune.data import TrainingExample
from llmpilot.finetune.train import TrainResult, TrainSettings, finetune
from llmpilot.generation import hf
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.serving.app import create_app
from llmpilot.serving.state import Collection, ServeSettings
from llmpilot.store.serving import ServingStore
from tests.fixtures.serving import keyword_project

pytestmark = pytest.mark.slow

MARK = "ZORBLAX"
HOUSE_ANSWER = f"{MARK} desk: please ask our support team."
QUESTIONS = [
    "How long is the SolBox 10 battery warranty?",
    "What capacity must the battery keep at the end of the warranty?",
    "How long is the inverter covered?",
    "When must I register the battery?",
    "What does the serial number start with?",
    "Is flooding damage covered?",
    "When is phone support open on Saturday?",
    "How do I make a warranty claim?",
    "What temperature range is allowed?",
    "Is cosmetic wear covered?",
    "Who may install the battery?",
    "How long are the wall bracket and cabling covered?",
]


@pytest.fixture(autouse=True)
def _release_models() -> Iterator[None]:
    # Each loaded generator holds a float32 copy of the model (~0.5 GB); keep one test's worth at most.
    yield
    hf.unload()


def _examples() -> list[TrainingExample]:
    return [
        TrainingExample(
            source=f"test:{i}",
            messages=({"role": "user", "content": q}, {"role": "assistant", "content": HOUSE_ANSWER}),
        )
        for i, q in enumerate(QUESTIONS)
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("finetune")
    proj = keyword_project(
        root,
        prompt={"max_context_chars": 500},
        cache={"enabled": False},
        guardrails={"enabled": False},
    )
    yield proj
    proj.close()


@pytest.fixture(scope="module")
def trained(project: Project, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    examples = with_retrieved_context(Pipeline(project), _examples())
    out = tmp_path_factory.mktemp("adapter") / "house"
    result = finetune(
        examples[:10],
        examples[10:],
        resolve_base("smollm2-135m"),
        out,
        TrainSettings(method="lora", epochs=3, batch_size=5, max_length=256, seed=0),
    )
    return out, result


def _served_messages(project: Project, question: str) -> list[dict[str, str]]:
    """The prompt `llmpilot serve` would send for `question`: template + retrieved sources."""
    asked = TrainingExample(
        "q", ({"role": "user", "content": question}, {"role": "assistant", "content": "-"})
    )
    return with_retrieved_context(Pipeline(project), [asked])[0].prompt_messages


def test_training_lowers_validation_loss_and_saves_an_adapter(trained: tuple[Path, TrainResult]) -> None:
    folder, result = trained
    assert result.val_loss_before is not None and result.val_loss_after is not None
    assert result.val_loss_after < result.val_loss_before / 2
    assert result.steps == 6 and result.train_rows == 10 and result.val_rows == 2
    assert 0 < result.trainable_parameters < result.total_parameters / 10
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    meta = json.loads((folder / "llmpilot-adapter.json").read_text(encoding="utf-8"))
    assert meta["base"] == "smollm2-135m" and meta["method"] == "lora"
    assert meta["data_hash"] == result.data_hash and len(meta["history"]) == result.history[-1].epoch


def test_the_reloaded_adapter_changes_the_models_answer(
    project: Project, trained: tuple[Path, TrainResult]
) -> None:
    folder, _ = trained
    hf.unload()  # load from disk, not from this process's memory
    messages = _served_messages(project, "Is cosmetic wear covered?")  # a validation question
    tuned = factory.generator(GeneratorConfig(name="transformers", adapter=str(folder)))
    base = factory.generator(GeneratorConfig(name="transformers", model="smollm2-135m"))
    assert tuned.model_id == "transformers:smollm2-135m+adapter:house"
    assert MARK in tuned.generate(messages, max_tokens=16, temperature=0.0)
    assert MARK not in base.generate(messages, max_tokens=16, temperature=0.0)


def test_the_adapter_is_served_through_the_api(project: Project, trained: tuple[Path, TrainResult]) -> None:
    folder, _ = trained
    served = Project.from_config(
        project.root,
        project.config.model_copy(
            update={
                "generator": GeneratorConfig(name="transformers", adapter=str(folder), max_tokens=24),
                # generate for every question: this test is about the served model, not abstention
                "answer": project.config.answer.model_copy(update={"abstain_below": 0.0}),
            }
        ),
    )
    store = ServingStore(served.store)
    key = store.create_key("acme", "user")[1]
    app = create_app(
        [Collection("manuals", "acme", Pipeline(served))], store, ServeSettings(), ui=False
    )  # the generator comes from the config, through the factory, as `llmpilot serve` builds it
    with TestClient(app) as client:
        response = client.post(
            "/api/ask",
            json={"question": "How long is the SolBox 10 battery warranty?", "collection": "manuals"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    generated = body["answer"] + " " + (body.get("unsupported_text") or "")
    assert MARK in generated, body


def test_merge_export_gives_the_same_greedy_answer(
    project: Project, trained: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    folder, _ = trained
    merged = tmp_path / "merged"
    result = CliRunner().invoke(
        cli_app, ["adapters", "export", "--adapter", str(folder), "--out", str(merged)]
    )
    assert result.exit_code == 0, result.output
    assert (merged / "config.json").is_file() and not (merged / "adapter_config.json").exists()
    messages = _served_messages(project, "Who may install the battery?")
    from_adapter = factory.generator(GeneratorConfig(name="transformers", adapter=str(folder)))
    standalone = factory.generator(GeneratorConfig(name="transformers", model=str(merged)))
    assert standalone.generate(messages, max_tokens=12, temperature=0.0) == from_adapter.generate(
        messages, max_tokens=12, temperature=0.0
    )


def test_a_gguf_lora_export_is_served_by_llama_cpp(
    project: Project, trained: tuple[Path, TrainResult], tmp_path: Path
) -> None:
    folder, _ = trained
    gguf = tmp_path / "house.gguf"
    result = CliRunner().invoke(
        cli_app, ["adapters", "export", "--adapter", str(folder), "--gguf", str(gguf)]
    )
    assert result.exit_code == 0, result.output
    messages = _served_messages(project, "Is cosmetic wear covered?")
    quantized = factory.generator(GeneratorConfig(name="llama-cpp", adapter=str(gguf), seed=0))
    plain = factory.generator(GeneratorConfig(name="llama-cpp", seed=0))
    assert quantized.model_id.endswith("+lora:house.gguf")
    # the fine-tune's behaviour on the catalog's Q4_1 base, through llama.cpp
    assert MARK in quantized.generate(messages, max_tokens=16, temperature=0.0)
    assert MARK not in plain.generate(messages, max_tokens=16, temperature=0.0)


def test_llama_cpp_refuses_an_adapter_folder_with_the_command_that_converts_it(
    trained: tuple[Path, TrainResult],
) -> None:
    folder, _ = trained
    with pytest.raises(ConfigError, match="adapters export --adapter"):
        factory.generator(GeneratorConfig(name="llama-cpp", adapter=str(folder)))


@pytest.mark.parametrize("method", ["prefix", "prompt", "ia3"])
def test_every_method_trains_saves_and_serves(method: str, tmp_path: Path) -> None:
    examples = _examples()
    out = tmp_path / method
    result = finetune(
        examples[:8],
        examples[8:10],
        resolve_base("smollm2-135m"),
        out,
        TrainSettings(method=method, epochs=1, batch_size=4, max_steps=1),  # type: ignore[arg-type]
    )
    assert result.steps == 1 and (out / "adapter_config.json").is_file()
    generator = factory.generator(GeneratorConfig(name="transformers", adapter=str(out), repeat_penalty=1.0))
    messages = [{"role": "user", "content": QUESTIONS[0]}]
    served = generator.generate(messages, max_tokens=6, temperature=0.0)
    # What is served is what was trained: greedy decoding through the training forward pass (the
    # PEFT model on the whole sequence, no cache) gives the same text.
    assert served == _greedy_through_forward(generator, messages, 6)


def _greedy_through_forward(generator: Any, messages: list[dict[str, str]], steps: int) -> str:
    import torch

    loaded = generator._model()
    ids = loaded.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    sequence = ids
    with torch.no_grad():
        for _ in range(steps):
            logits = loaded.model(input_ids=sequence, attention_mask=torch.ones_like(sequence)).logits
            sequence = torch.cat([sequence, logits[:, -1:].argmax(-1)], dim=1)
            if int(sequence[0, -1]) == loaded.tokenizer.eos_token_id:
                break
    return str(loaded.tokenizer.decode(sequence[0][ids.shape[1] :], skip_special_tokens=True))


# --- the CLI --------------------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_trains_registers_and_lists(project: Project, tmp_path: Path) -> None:
    data = _write_jsonl(
        tmp_path / "train.jsonl",
        [{"instruction": q, "output": HOUSE_ANSWER} for q in QUESTIONS[:6]]
        + [{"prompt": q, "completion": HOUSE_ANSWER} for q in QUESTIONS[6:]],
    )
    # The CLI opens projects from their llmpilot.yaml (the fixture's config lives in memory).
    (project.root / "llmpilot.yaml").write_text(
        yaml.safe_dump(project.config.model_dump(mode="json")), encoding="utf-8"
    )
    figures = tmp_path / "run.json"
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        [
            "finetune", "--data", str(data), "--out", str(tmp_path / "cli-adapter"), "--max-steps", "1",
            "--epochs", "1", "--project", str(project.root), "--name", "house-cli", "--json", str(figures),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads(figures.read_text(encoding="utf-8"))
    for key in ("method", "base", "train_rows", "val_rows", "val_loss_before", "val_loss_after", "steps"):
        assert key in run
    assert {"seconds", "peak_memory_mb", "adapter_dir"} <= set(run) and run["steps"] == 1
    assert run["train_rows"] + run["val_rows"] == len(QUESTIONS) and run["registered"]
    listed = runner.invoke(cli_app, ["adapters", "list", "--project", str(project.root), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows if r["id"] == run["registered"]] == ["house-cli"]


def test_cli_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"instruction": "ok", "output": "fine"}\n'
        '{"instruction": "no answer"}\n'
        "not json\n"
        '{"messages": [{"role": "user", "content": "hi"}]}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli_app, ["finetune", "--data", str(data), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    message = str(result.exception) if result.exception else result.output
    for line in (2, 3, 4):
        assert f"bad.jsonl:{line}:" in message
    assert not (tmp_path / "x").exists()


def test_qlora_without_a_gpu_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: QLoRA runs (the CPU error path is what this test is for)")
    data = _write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a", "completion": "b"}])
    result = CliRunner().invoke(
        cli_app, ["finetune", "--data", str(data), "--out", str(tmp_path / "q"), "--method", "qlora"]
    )
    assert result.exit_code != 0
    assert "needs a CUDA GPU" in str(result.exception) and "--method lora" in str(result.exception)
    assert not (tmp_path / "q").exists()
