"""`planner check` on random and hostile deployment files: a verdict or a clean "unreadable", fast (issue 7).

Generated Kubernetes / compose files with random `vllm serve` arguments, YAML-ish text full of anchors,
aliases, merge keys and tags, alias bombs (billion laughs), deep nesting, non-UTF-8 bytes and files near
and over the size limit. `check_paths` must never raise, every file ends checked or "unreadable" with a
reason, the exit code is 0, 1 or 2, and nothing takes long. No generated text is ever executed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.gate.run import check_paths
from tools.generators import billion_laughs, hostile_files

RUNNER = CliRunner()
MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-32B", "qwen3-8b", "llama-3.1-70b", "org/unknown-model",
          "", "/models/local", "deepseek-ai/DeepSeek-V3", "a b; rm -rf /", "$(id)"]
ARG_WORDS = st.one_of(
    st.sampled_from(["--tensor-parallel-size", "-tp", "--max-model-len", "--gpu-memory-utilization", "--quantization",
                     "--kv-cache-dtype", "--max-num-seqs", "--enable-prefix-caching", "--no-such-flag", "--dtype",
                     "--pipeline-parallel-size", "--block-size", "--cpu-offload-gb", "-O3", "--model", "--",
                     "2", "8", "0", "-1", "0.9", "1.5", "nan", "1e999", "32k", "awq", "fp8", "auto", "${TP}", "$(TP)"]),
    st.text(max_size=8),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=10))


@st.composite
def deployments(draw: st.DrawFn) -> str:
    """A Kubernetes Deployment or a compose file running vllm serve, with random arguments and noise."""
    args = draw(st.lists(ARG_WORDS, max_size=10))
    model = draw(st.sampled_from(MODELS))
    if draw(st.booleans()):
        container: dict[str, Any] = {
            "name": "vllm", "image": draw(st.sampled_from(["vllm/vllm-openai:v0.33.0", "vllm/vllm-openai:latest",
                                                           "vllm/vllm-openai:v0.8.5", "vllm/vllm-openai", "x"])),
            "command": draw(st.sampled_from([["vllm", "serve"], ["python3", "-m", "vllm.entrypoints.openai.api_server"],
                                             ["/bin/sh", "-c"], None])),
            "args": [model, *args],
            "resources": {"limits": {"nvidia.com/gpu": draw(st.one_of(SCALARS, st.sampled_from(["1", "8", "-2"])))}},
        }
        if draw(st.booleans()):
            container["env"] = [{"name": draw(st.sampled_from(["VLLM_CPU_KVCACHE_SPACE", "HF_TOKEN", "X"])),
                                 "value": draw(SCALARS)}]
        doc = {"apiVersion": "apps/v1", "kind": draw(st.sampled_from(["Deployment", "StatefulSet", "Pod", "Job"])),
               "metadata": {"name": "v"},
               "spec": {"template": {"spec": {
                   "nodeSelector": {"nvidia.com/gpu.product": draw(st.sampled_from(
                       ["NVIDIA-H100-80GB-HBM3", "NVIDIA-L4", "Tesla-T4", "", "NVIDIA-A100-SXM4-80GB"]))},
                   "containers": [container]}}}}
    else:
        doc = {"services": {"vllm": {"image": "vllm/vllm-openai:v0.33.0",
                                     "command": draw(st.one_of(st.just(["--model", model, *args]),
                                                               st.just(" ".join(["vllm serve", model, *args])))),
                                     "deploy": {"resources": {"reservations": {"devices": [
                                         {"driver": "nvidia", "count": draw(SCALARS)}]}}}}}}
    text = yaml.safe_dump(doc, sort_keys=False)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]          # a file cut short
    return text


YAMLISH = st.lists(st.one_of(st.sampled_from(list("ab:- \n\t&*<>!|{}[],'\"#%@`?")), st.sampled_from(
    ["vllm", "serve", "&a ", "*a", "<<: *a", "!!python/object ", "!!binary ", "!!int ", "---\n", "...\n",
     "apiVersion: v1\n", "kind: Pod\n", "command: [vllm, serve, ", "  "])), max_size=120).map("".join)


def assert_report_ok(report: Any) -> None:
    assert report.exit_code in (0, 1, 2)
    for r in report.files:
        assert r.unreadable is None or (r.unreadable and "\n" not in r.unreadable), r.unreadable
        assert r.unreadable is None or "internal" not in r.unreadable


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(text=deployments())
def test_generated_deployments(tmp_path: Path, text: str) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text(text)
    assert_report_ok(check_paths([str(f)]))


@settings(max_examples=400, deadline=1000)
@given(text=YAMLISH)
def test_yaml_like_text_from_stdin(text: str) -> None:
    assert_report_ok(check_paths(["-"], stdin_text=text))


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(text=deployments(), fmt=st.sampled_from(["json", "human", "github", "junit"]))
def test_cli_on_generated_deployments(text: str, fmt: str) -> None:
    res = RUNNER.invoke(app, ["check", "-", "--format", fmt], input=text)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 1, 2), res.output
    assert "Traceback" not in res.output and "internal error" not in res.output
    if fmt == "json":
        assert json.loads(res.stdout)["exit_code"] == res.exit_code


HOSTILE: dict[str, bytes] = hostile_files()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_gets_a_clean_bounded_answer(tmp_path: Path, name: str) -> None:
    f = tmp_path / name
    f.write_bytes(HOSTILE[name])
    t0 = time.perf_counter()
    res = RUNNER.invoke(app, ["check", str(f), "--format", "json"])
    elapsed = time.perf_counter() - t0
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 1, 2), res.output
    assert "internal error" not in res.output and "Traceback" not in res.output, res.output[-500:]
    out = json.loads(res.stdout)
    assert out["exit_code"] == res.exit_code
    # A file named on the command line is reported, either checked or unreadable with a reason.
    assert [f["path"] for f in out["files"]] == [str(f)] or out["files"] == []
    # The work is bounded by counts (bytes, nodes, documents, expanded aliases; tests/test_check_parts.py),
    # and timed in bench/check_bench.py; this only says the run ends, with room for a loaded CI box.
    assert elapsed < 30.0, f"{name}: {elapsed:.1f} s"


def test_alias_bomb_is_refused_by_count(tmp_path: Path) -> None:
    """Nine to the twelfth 'lol's would be 2.8e11 strings: refused by the expanded-node limit."""
    f = tmp_path / "lol.yaml"
    f.write_text(billion_laughs(12))
    report = check_paths([str(f)])
    assert_report_ok(report)
    assert report.exit_code == 2 and "aliases expand to more than" in (report.files[0].unreadable or "")


def test_python_tags_are_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    f = tmp_path / "evil.yaml"
    # Under an unsafe loader this would create `marker`; the safe loader refuses the tag.
    f.write_text(f"kind: Pod\nspec: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path "
                 f"['{marker}']]\n# vllm serve\n")
    report = check_paths([str(f)])
    assert not marker.exists()
    assert report.exit_code == 2 and report.files[0].unreadable
