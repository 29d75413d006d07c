"""One resolution path (planner/resolve.py): estimate and check read one command the same way.

vLLM 0.8-0.10 run the V1 engine unless the process environment says VLLM_USE_V1=0 (vllm/envs.py,
EngineArgs._is_v1_supported_oracle in 0.9.2): the release rules pick V0 then, for every command.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import gpu_catalog
import model_catalog
from planner.cli import app
from planner.gate.rules import Settings
from planner.gate.run import check_paths
from planner.resolve import Inputs, estimate_from, make_inputs, parse_invocation, vllm_env
from planner.sourcing.loader import from_catalog

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
COMMAND = ["VLLM_USE_V1=0", "vllm", "serve", MODEL, "--max-model-len", "8192"]
# vLLM 0.9.2, V0 on an H100 (80 GiB): 256 seqs, 8192 tokens per batch; V1 logs fewer tokens (its
# larger profile run and CUDA graphs of the V1 runner).
V0_TOKENS = 450_416
V1_TOKENS = 420_896

K8S = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: llama
spec:
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.9.2
          command: ["vllm", "serve"]
          args: ["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"]
          env:
            - name: VLLM_USE_V1
              value: "0"
          resources:
            limits:
              nvidia.com/gpu: 1
"""


def _estimate_tokens(*words: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["estimate", "--gpu", "H100", "--vllm-version", "0.9.2", "--offline", "--json",
                                 "--", *words])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    return out["kv_cache"]["tokens"], out["vllm"]["engine"]


def test_estimate_reads_vllm_use_v1_from_the_pasted_command() -> None:
    assert _estimate_tokens(*COMMAND) == (V0_TOKENS, "v0")
    assert _estimate_tokens(*COMMAND[1:]) == (V1_TOKENS, "v1")


def test_check_of_a_script_and_a_manifest_agrees_with_estimate(tmp_path: Path) -> None:
    script = tmp_path / "serve.sh"
    script.write_text("#!/bin/sh\n# planner: gpu=H100 vllm=0.9.2\n" + " ".join(COMMAND) + "\n")
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(K8S)
    report = check_paths([str(script), str(manifest)], settings=Settings())
    memories = [inv.memory for f in report.files for inv in f.invocations]
    assert [m["kv_cache_tokens"] if m else None for m in memories] == [V0_TOKENS, V0_TOKENS]
    assert all(m is not None and m["vllm_version"] == "0.9.2" for m in memories)


def test_inputs_are_frozen_and_keep_only_vllm_words() -> None:
    hit = model_catalog.lookup(MODEL)
    assert hit is not None
    inputs = make_inputs(from_catalog(hit, MODEL), gpu_catalog.resolve("H100"), vllm_version="0.9.2",
                         env={"VLLM_USE_V1": "0", "HOME": "/root"})
    assert isinstance(inputs, Inputs) and inputs.env == (("VLLM_USE_V1", "0"),) and inputs.rules.engine == "v0"
    try:
        inputs.quant = "fp8"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("Inputs must be immutable")
    assert vllm_env({"B": "1", "VLLM_X": "2", "VLLM_A": "3"}) == (("VLLM_A", "3"), ("VLLM_X", "2"))


def test_parse_invocation_splits_environment_words_from_flags() -> None:
    ref, cmd = parse_invocation(COMMAND, None, "0.9.2", usage="u")
    assert ref == MODEL and cmd.env == {"VLLM_USE_V1": "0"} and cmd.args.max_model_len == 8192
    hit = model_catalog.lookup(MODEL)
    assert hit is not None
    est = estimate_from(make_inputs(from_catalog(hit, MODEL), gpu_catalog.resolve("H100"), cmd.args,
                                    vllm_version="0.9.2", env=cmd.env))
    assert est.kv_cache.tokens == V0_TOKENS


def test_each_release_is_checked_against_its_own_kv_cache_dtypes() -> None:
    """nvfp4 KV arrived after 0.19 (the flag table's choices per release); 0.9.2 refuses it, 0.33 takes it."""
    import pytest

    from planner.errors import PlannerError
    from planner.release.engine_args import EngineArgs

    hit = model_catalog.lookup(MODEL)
    assert hit is not None
    args = EngineArgs(kv_cache_dtype="nvfp4", max_model_len=8192)
    with pytest.raises(PlannerError, match=r"nvfp4.*0\.9\.2"):
        make_inputs(from_catalog(hit, MODEL), gpu_catalog.resolve("B200"), args, vllm_version="0.9.2")
    assert make_inputs(from_catalog(hit, MODEL), gpu_catalog.resolve("B200"), args, vllm_version="0.33.0")
