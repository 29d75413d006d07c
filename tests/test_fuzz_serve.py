"""Random `vllm serve` command lines and flag values end in a verdict or a clean error (issue 7).

tests/test_serve_args.py already feeds garbage words to the parser; these tests go one step further
and push *parsed* values through the memory model and the CLI: every flag the vLLM release knows, with
values that are valid, borderline (0, -1, 1e-300, NaN, inf, 10**30, '32k'), or nonsense. The generated
command text is only ever parsed, never executed.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import gpu_catalog
from planner.cli import app
from planner.errors import PlannerError
from planner.memory.estimator import estimate
from planner.memory.spec import model_spec_from_config
from planner.release.serve_args import parse_serve_argv
from planner.release.vllm_flags import known_flags

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
SPEC = model_spec_from_config(json.loads((CONFIGS / "Qwen__Qwen3-8B.json").read_text()), name="qwen3-8b")
H100 = gpu_catalog.resolve("H100")
ALL_FLAGS = sorted(known_flags("0.33.0"))
# The flags the memory model reads: bad values here reach arithmetic, so they get most examples.
MEMORY_FLAGS = ["--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "--data-parallel-size",
                "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--max-num-batched-tokens",
                "--kv-cache-dtype", "--dtype", "--block-size", "--kv-cache-memory-bytes", "--kv-cache-memory",
                "--quantization", "-q", "--cpu-offload-gb", "--num-gpu-blocks-override",
                "--max-cudagraph-capture-size", "--enforce-eager", "--enable-expert-parallel",
                "--performance-mode", "--enable-prefix-caching", "--disable-sliding-window", "-O",
                "--compilation-config", "--hf-overrides", "--swap-space", "--speculative-config",
                "--limit-mm-per-prompt", "--mm-processor-cache-gb", "--enable-chunked-prefill"]
flag_values = st.one_of(
    st.sampled_from(["0", "1", "2", "-1", "3", "0.5", "0.99", "1.0", "1.5", "1e-300", "1e999", "nan", "NaN", "inf",
                     "-inf", "10" * 20, "32k", "32K", "1M", "2G", "1.5k", "auto", "fp8", "fp8_e5m2", "awq",
                     "bfloat16", "half", "true", "false", "", " ", "{}", "[]", '{"mode": 3}', "{bad json",
                     '{"max_model_len": -5}', '{"num_hidden_layers": 0}', "--", "-", "=", "\x00", "ü",
                     '{"model": "x", "num_speculative_tokens": 1e9}']),
    st.integers(-(2**64), 2**64).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=10),
)


@st.composite
def serve_lines(draw: st.DrawFn, flags: list[str]) -> list[str]:
    words = ["vllm", "serve", "qwen3-8b"]
    for _ in range(draw(st.integers(0, 6))):
        flag = draw(st.sampled_from(flags))
        style = draw(st.sampled_from(["pair", "equals", "bare"]))
        value = draw(flag_values)
        if style == "pair":
            words += [flag, value]
        elif style == "equals":
            words.append(f"{flag}={value}")
        else:
            words.append(flag)
    return words


def check_estimate(argv: list[str]) -> None:
    """Parse and estimate; only PlannerError may escape; a result must be strict JSON."""
    try:
        cmd = parse_serve_argv(argv)
        est = estimate(SPEC, H100, cmd.args, env=cmd.env)
    except PlannerError as err:
        assert err.message and "\n" not in err.one_line()
        return
    out = est.to_json()
    json.dumps(out, allow_nan=False)
    per_gpu = out["per_gpu"]
    assert all(math.isfinite(v) for v in per_gpu.values()), per_gpu
    # Only the KV budget may be negative, as vLLM logs it ("Available KV cache memory: -9.59 GiB") before
    # refusing to start; every other figure is a size.
    assert all(v >= 0 for k, v in per_gpu.items() if k != "kv_cache_gib"), per_gpu
    assert per_gpu["kv_cache_gib"] >= 0 or not out["fits"]
    assert out["kv_cache"]["tokens"] is None or out["kv_cache"]["tokens"] >= 0


@settings(max_examples=800, deadline=None)
@given(serve_lines(MEMORY_FLAGS))
def test_memory_flags_with_random_values(argv: list[str]) -> None:
    check_estimate(argv)


@settings(max_examples=400, deadline=None)
@given(serve_lines(ALL_FLAGS))
def test_any_flag_with_random_values(argv: list[str]) -> None:
    check_estimate(argv)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "-1", "-0.5"])
@pytest.mark.parametrize("flag", ["--cpu-offload-gb", "--gpu-memory-utilization", "--swap-space",
                                  "--kv-cache-memory-bytes", "--max-model-len", "--mm-processor-cache-gb"])
def test_non_finite_and_negative_sizes_are_rejected_or_harmless(flag: str, value: str) -> None:
    """vLLM's own parser turns 'nan' into float('nan'); the planner must not compute with it."""
    check_estimate(["vllm", "serve", "qwen3-8b", flag, value])


# ---- the CLI: `planner estimate --gpu H100 -- vllm serve ...` ------------------------------------

RUNNER = CliRunner()


def assert_contract(res: Any) -> None:
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code in (0, 1):
        out = json.loads(res.stdout)
        json.dumps(out, allow_nan=False)
        assert out["fits"] == (res.exit_code == 0)
        return
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), res.stderr
    assert "internal error" not in lines[0], lines[0]
    assert json.loads(res.stdout)["error"]["message"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serve_lines(MEMORY_FLAGS))
def test_cli_pasted_command(argv: list[str]) -> None:
    assert_contract(RUNNER.invoke(app, ["estimate", "--gpu", "H100", "--json", "--", *argv]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(serve_lines(MEMORY_FLAGS))
def test_cli_pasted_command_as_one_shell_string(argv: list[str]) -> None:
    """A whole command pasted as one argument (quotes and all) parses like the word list."""
    line = shlex.join(argv)
    assert_contract(RUNNER.invoke(app, ["estimate", "--gpu", "H100", "--json", "--", line]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu=st.one_of(st.sampled_from(["H100", "h100", "A100-80GB", "NVIDIA-L4", "", " ", "any", "H100x8", "cpu",
                                      "NVIDIA H100 80GB HBM3", "../H100", "H100;rm", "$(id)"]),
                     st.text(max_size=12)),
       quant=st.one_of(st.none(), st.sampled_from(["awq", "fp8", "auto", "none", "int4", "AWQ", "", "nvfp4",
                                                   "bnb-nf4", "gguf"]), st.text(max_size=6)),
       mem=st.one_of(st.none(), st.sampled_from(["0", "-1", "nan", "inf", "1e999", "80", "0.001"])),
       version=st.one_of(st.none(), st.sampled_from(["0.33.0", "0.8.5", "0.10.1.1", "1.0", "latest", "0.33",
                                                     "v0.33.0", "", "x.y"])))
def test_cli_own_flags_with_random_values(gpu: str, quant: str | None, mem: str | None,
                                          version: str | None) -> None:
    args = ["estimate", "qwen3-8b", "--gpu", gpu, "--json"]
    if quant is not None:
        args += ["--quant", quant]
    if mem is not None:
        args += ["--gpu-memory-gib", mem]
    if version is not None:
        args += ["--vllm-version", version]
    assert_contract(RUNNER.invoke(app, args))
