"""Every command's --json answer validates against planner/contract.py, and docs/schema.json is current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NotRequired

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner
from typing_extensions import TypedDict

from planner.cli import app
from planner.contract import ANSWERS, CheckDoc, ErrorDoc, EstimateDoc, PlanDoc, ValidateDoc, json_schema, schema_text
from planner.errors import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CONFIGS = DATA / "validation" / "model-configs"
runner = CliRunner()


def _run(*args: str) -> dict[str, Any]:
    r = runner.invoke(app, list(args))
    assert r.exit_code in (0, 1, 2), r.output
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def _valid(doc: dict[str, Any], name: str) -> None:
    """Both ways: the pydantic model, and the exported JSON Schema (what a consumer would use)."""
    ANSWERS[name].model_validate(doc)
    schema = json_schema()
    jsonschema.validate(doc, {**schema, "$ref": schema["answers"][name]["$ref"]})


@pytest.fixture
def local_model(tmp_path: Path) -> Path:
    d = tmp_path / "llama"
    d.mkdir()
    shutil.copy(CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json", d / "config.json")
    return d


def test_estimate_json_validates(local_model: Path) -> None:
    doc = _run("estimate", str(local_model), "--gpu", "H100", "--max-model-len", "8192", "--json")
    assert doc["schema_version"] == SCHEMA_VERSION
    _valid(doc, "estimate")
    # A failing estimate (exit 1) is the same contract.
    _valid(_run("estimate", str(local_model), "--gpu", "L4", "--json"), "estimate")


def test_plan_json_validates() -> None:
    _valid(_run("plan", "llama-3.1-8b", "--gpu", "H100", "--json"), "plan")
    # Nothing fits: no estimate of a chosen plan, still the plan contract.
    _valid(_run("plan", "llama-3.1-405b", "--gpu", "L4", "--max-gpus", "1", "--json"), "plan")


def test_check_json_validates() -> None:
    _valid(_run("check", str(DATA / "check" / "good"), "--format", "json"), "check")


def test_validate_json_validates() -> None:
    log = DATA / "logs" / "v1-0.33.0-tp2-cudagraph.log"
    doc = _run("validate", "llama-3.1-8b", "--gpu", "H100", "--from-log", str(log), "--json",
               "--tensor-parallel-size", "2")
    _valid(doc, "validate")
    EstimateDoc.model_validate({k: v for k, v in doc["predicted"].items()})


def test_error_json_validates() -> None:
    doc = _run("estimate", "llama-3.1-8b", "--gpu", "no-such-gpu", "--json")
    _valid(doc, "error")


def test_the_models_refuse_a_key_the_contract_does_not_have(local_model: Path) -> None:
    doc = _run("estimate", str(local_model), "--gpu", "H100", "--json")
    with pytest.raises(ValueError):
        EstimateDoc.model_validate({**doc, "surprise": 1})
    with pytest.raises(ValueError):
        ErrorDoc.model_validate({"schema_version": 1})
    assert {CheckDoc, PlanDoc, ValidateDoc} <= set(ANSWERS.values())


def test_the_checked_in_schema_is_current() -> None:
    """Regenerate with `python -m planner.contract > docs/schema.json`."""
    assert (ROOT / "docs" / "schema.json").read_text() == schema_text()


def test_perf_json_validates() -> None:
    _valid(_run("perf", "qwen3-8b", "--gpu", "H100", "--num-prompts", "20", "--json"), "perf")
    _valid(_run("perf", "qwen3-8b", "--gpu", "H100", "--num-prompts", "20", "--sweep", "max-concurrency=1,4",
                "--json"), "perf")
    # vLLM would refuse to start: no benchmark, the same contract.
    _valid(_run("perf", "llama-3.1-70b", "--gpu", "L4", "--num-prompts", "20", "--json"), "perf")


def test_the_models_are_checked_against_the_answer_types() -> None:
    """Each pydantic model accepts every answer its TypedDict in planner/answers.py allows, with the same keys."""
    from planner import contract

    assert contract.mismatches() == []


class _T(TypedDict):
    a: int
    b: NotRequired[str]
    c: float


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int
    b: str
    c: int


class _Loose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float
    b: str | None = None
    c: Any


def test_the_check_sees_a_drift() -> None:
    """A key added to one side only, a type narrowed in the model, a key the model requires: all named."""
    from planner import contract

    def check(model: type[BaseModel]) -> list[str]:
        from pydantic import TypeAdapter

        ms, ts = model.model_json_schema(), TypeAdapter(_T).json_schema()
        return contract._accepts(contract._node(ms, ms.get("$defs", {})), contract._node(ts, ts.get("$defs", {})),
                                 "t")

    problems = check(_M)
    assert any("t.b: the model requires" in p for p in problems) and any(p.startswith("t.c:") for p in problems)
    assert check(_Loose) == []


def test_one_schema_version() -> None:
    """The version is written once (planner/errors.py); every answer carries that one."""
    hits = [p for p in (ROOT / "planner").rglob("*.py") if "SCHEMA_VERSION =" in p.read_text()]
    # planner/emit/grafana.py's is Grafana's dashboard `schemaVersion`, not the planner's JSON contract.
    assert sorted(p.relative_to(ROOT).as_posix() for p in hits) == ["planner/emit/grafana.py", "planner/errors.py"]
    assert json_schema()["schema_version"] == SCHEMA_VERSION
