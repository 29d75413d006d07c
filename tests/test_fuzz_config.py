"""Random and broken config.json files never crash, hang or mislead (issue 7, robustness).

Real configs from tests/data/validation are mutated the ways configs go wrong in practice: keys
dropped, values of the wrong type, zero, negative, huge, NaN/Infinity, a nested text_config, random
layer_types, odd quantization_config blocks, and files cut short. Each must give either a clean
estimate (finite, non-negative figures, strict JSON) or a PlannerError; at the CLI, exit 0/1 with the
JSON contract or exit 2 with one `planner: error:` line and a JSON error object, never a traceback.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
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
from planner.release.engine_args import EngineArgs
from tools.generators import bad_values, field_paths, mutate, reference_configs

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
# Varied layouts: dense GQA, MoE, sliding/interleaved, MLA, multimodal wrapper, quantized checkpoints.
BASES = {p.stem: json.loads(p.read_text()) for p in sorted(CONFIGS.glob("*.json"))
         if not p.stem.endswith("hf_quant_config")}
BASE_NAMES = sorted(BASES)
H100 = gpu_catalog.resolve("H100")

# Keys the memory model reads; mutating these (rather than random names) is what finds bugs.
KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
        "intermediate_size", "vocab_size", "max_position_embeddings", "torch_dtype", "dtype", "model_type",
        "architectures", "tie_word_embeddings", "sliding_window", "layer_types", "rope_scaling", "rope_theta",
        "num_local_experts", "num_experts", "num_experts_per_tok", "moe_intermediate_size", "kv_lora_rank",
        "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "quantization_config",
        "text_config", "model_max_length", "sliding_window_pattern", "max_window_layers", "use_sliding_window",
        "first_k_dense_replace", "n_routed_experts", "num_nextn_predict_layers", "partial_rotary_factor",
        "interleave_moe_layer_step", "attention_chunk_size", "no_rope_layers", "shared_expert_intermediate_size"]

numbers = st.one_of(
    st.integers(-3, 3), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 7, 4096, 2**31, 2**63, 10**13]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 0.5, 1e308]),
)
scalars = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=12),
                    st.sampled_from(["bfloat16", "float16", "float32", "int8", "torch.float16", "", "auto"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)
layer_types = st.lists(st.sampled_from(["full_attention", "sliding_attention", "linear_attention", "chunked_attention",
                                        "mamba", "", "attention", 3, None]), max_size=200)
quant_configs = st.one_of(
    st.fixed_dictionaries({"quant_method": st.sampled_from(["awq", "gptq", "fp8", "compressed-tensors", "bitsandbytes",
                                                            "mxfp4", "modelopt", "nonsense", ""])},
                          optional={"bits": numbers, "group_size": numbers, "weight_block_size": values,
                                    "config_groups": values, "ignore": values, "modules_to_not_convert": values}),
    values,
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    cfg: dict[str, Any] = json.loads(json.dumps(BASES[draw(st.sampled_from(BASE_NAMES))]))
    target = cfg
    if draw(st.booleans()) and isinstance(cfg.get("text_config"), dict):
        target = cfg["text_config"]
    for _ in range(draw(st.integers(1, 6))):
        key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["drop", "value", "number", "layer_types", "quant", "nest"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "value":
            target[key] = draw(values)
        elif action == "number":
            target[key] = draw(numbers)
        elif action == "layer_types":
            target["layer_types"] = draw(layer_types)
        elif action == "quant":
            target["quantization_config"] = draw(quant_configs)
        else:
            # Wrap the language model the way multimodal configs do, sometimes with an empty or odd shell.
            cfg = {"model_type": draw(st.sampled_from(["gemma3", "llava", "mistral3", "x"])),
                   "architectures": ["X"], "text_config": draw(st.sampled_from([cfg, {}, None, [cfg]]))}
            target = cfg
    return cfg


engine_args = st.fixed_dictionaries({}, optional={
    "tensor_parallel_size": st.sampled_from([1, 2, 3, 8]),
    "max_model_len": st.sampled_from([1, 16, 4096, 10**7]),
    "max_num_seqs": st.sampled_from([1, 256]),
    "kv_cache_dtype": st.sampled_from(["auto", "fp8"]),
})


def assert_clean(est: Any) -> None:
    """An estimate is usable: strict JSON, finite non-negative memory, a boolean verdict."""
    out = est.to_json()
    json.dumps(out, allow_nan=False)           # NaN/Infinity in the output would be invalid JSON
    assert isinstance(out["fits"], bool)
    for key, value in out["per_gpu"].items():
        assert isinstance(value, int | float) and math.isfinite(value), key
        # Only the KV budget may be negative (vLLM logs it so before refusing to start).
        assert value >= 0 or (key == "kv_cache_gib" and not out["fits"]), (key, value)
    assert out["kv_cache"]["tokens"] is None or out["kv_cache"]["tokens"] >= 0
    assert out["fits"] == (not out["errors"])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs(), engine_args)
def test_mutated_config_gives_an_estimate_or_a_planner_error(cfg: dict[str, Any], args: dict[str, Any]) -> None:
    try:
        spec = model_spec_from_config(cfg, name="fuzz")
    except PlannerError as err:
        assert err.message and "\n" not in err.one_line()
        return
    try:
        est = estimate(spec, H100, EngineArgs(**args))
    except PlannerError as err:
        assert err.message and "\n" not in err.one_line()
        return
    assert_clean(est)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=12))
def test_config_made_of_random_values_only_raises_planner_error(cfg: dict[str, Any]) -> None:
    try:
        spec = model_spec_from_config(cfg, name="fuzz")
        assert_clean(estimate(spec, H100, EngineArgs()))
    except PlannerError as err:
        assert "\n" not in err.one_line()


@pytest.mark.parametrize("value", [0, -1, -(2**40), 10**30, 1.5, math.nan, math.inf, "64", None, True, [64]])
@pytest.mark.parametrize("key", ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                                 "num_key_value_heads", "head_dim", "intermediate_size",
                                 "max_position_embeddings", "model_max_length"])
def test_every_bad_size_is_named_or_tolerated(key: str, value: Any) -> None:
    """Each size field with each bad value: a PlannerError that names the field, or a clean estimate."""
    cfg = dict(BASES["meta-llama__Llama-3.1-8B-Instruct"])
    cfg[key] = value
    try:
        spec = model_spec_from_config(cfg, name="fuzz")
        assert_clean(estimate(spec, H100, EngineArgs(max_model_len=4096)))
    except PlannerError as err:
        assert key in err.message


# ---- through the CLI -------------------------------------------------------------------------------

RUNNER = CliRunner()


def run_cli(folder: Path, *extra: str) -> Any:
    return RUNNER.invoke(app, ["estimate", str(folder), "--gpu", "H100", "--json", *extra])


def assert_cli_contract(res: Any) -> None:
    """exit 0/1 with the JSON contract, or exit 2 with one error line and a JSON error object."""
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code in (0, 1):
        out = json.loads(res.stdout)
        assert out["schema_version"] == 1 and out["fits"] == (res.exit_code == 0)
        json.dumps(out, allow_nan=False)
        return
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), res.stderr
    assert "internal error" not in lines[0], lines[0]
    err = json.loads(res.stdout)["error"]
    assert err["code"] and err["message"]


# No per-example deadline here: a config missing a size makes the CLI import transformers once for its
# class defaults (planner.sourcing.loader.complete_config), a one-time cost of seconds that is not per example.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_configs(), st.one_of(st.none(), st.integers(1, 4000)))
def test_cli_on_a_mutated_or_truncated_config_file(tmp_path_factory: pytest.TempPathFactory, cfg: dict[str, Any],
                                                   cut: int | None) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    text = json.dumps(cfg)                     # json.dumps writes NaN/Infinity as Python's json reads them
    (folder / "config.json").write_text(text if cut is None else text[:cut])
    assert_cli_contract(run_cli(folder))


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00{", b"[]", b"null", b"{", b'{"hidden_size": 1e999}',
                                     b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, b"\x00" * 64,
                                     b'{"num_hidden_layers": NaN, "hidden_size": Infinity}'])
def test_cli_on_garbage_bytes(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "config.json").write_bytes(content)
    res = run_cli(tmp_path)
    assert_cli_contract(res)
    assert res.exit_code == 2


def test_cli_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """The same contract across a real process boundary (stderr, exit code, no rich traceback)."""
    model = tmp_path / "m"
    model.mkdir()
    cfg = dict(BASES["Qwen__Qwen3-8B"], num_hidden_layers=-4)
    (model / "config.json").write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, "-m", "planner", "estimate", str(model), "--gpu", "H100", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("planner: error: ") and proc.stderr.count("\n") == 1
    assert "num_hidden_layers" in proc.stderr
    assert json.loads(proc.stdout)["error"]["code"] == "malformed_config"


# ---- every field of every reference config x each kind of bad value (issue 11) ----------------------

REFERENCE = reference_configs()
_field_paths, _bad_values, _mutate = field_paths, bad_values, mutate


@pytest.mark.parametrize("ref", sorted(REFERENCE))
def test_every_field_mutated_to_every_bad_value(ref: str) -> None:
    """The estimate entry point (load -> complete_config -> estimate) on each mutation: a clean estimate
    (exit 0/1) or a one-line PlannerError (exit 2), never another exception."""
    from planner.sourcing.loader import LoadedModel, complete_config

    base = REFERENCE[ref]
    for path in _field_paths(base):
        node: Any = base
        for key in path:
            node = node[key]
        for kind, value in _bad_values(node).items():
            cfg = _mutate(base, path, value)
            try:
                loaded = complete_config(LoadedModel(ref=ref, config=cfg, source="local", name="m"))
                assert_clean(estimate(loaded, H100))
            except PlannerError as err:
                assert err.message and "\n" not in err.one_line(), (path, kind)
            except Exception as exc:
                pytest.fail(f"{ref} {'.'.join(path)} = {kind}: {type(exc).__name__}: {exc}")


_LLAMA = BASES["meta-llama__Llama-3.1-8B"]
_GEMMA3 = BASES["google__gemma-3-27b-it"]
_QWEN = BASES["Qwen__Qwen2.5-7B-Instruct"]


@pytest.mark.parametrize(("cfg", "named"), [
    ({**_QWEN, "use_sliding_window": True, "max_window_layers": "28"}, "max_window_layers"),
    ({**_GEMMA3, "text_config": {**_GEMMA3["text_config"], "sliding_window_pattern": math.nan}},
     "sliding_window_pattern"),
    ({**_GEMMA3, "text_config": {**_GEMMA3["text_config"], "sliding_window_pattern": 1e-9}},
     "sliding_window_pattern"),
    ({**_LLAMA, "rope_scaling": {"rope_type": "linear", "factor": 1e308}}, "rope_scaling.factor"),
    ({**_LLAMA, "rope_scaling": [1, 2]}, "rope_scaling"),
    ({**_LLAMA, "quantization_config": [1]}, "quantization_config"),
    ({**_LLAMA, "quantization_config": {"quant_method": "compressed-tensors", "config_groups": {"group_0": {
        "targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 0}}}}},
     "group_size"),
    ({**_LLAMA, "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 0}}, "group_size"),
    ({**_LLAMA, "max_position_embeddings": int("9" * 4000)}, "max_position_embeddings"),
    ({**_LLAMA, "num_hidden_layers": 10**6}, "num_hidden_layers"),
    ({**BASES["mistralai__Mixtral-8x7B-v0.1"], "num_local_experts": "8"}, "num_local_experts"),
])
def test_issue_11_config_reproducers_exit_2_naming_the_field(tmp_path: Path, cfg: dict[str, Any],
                                                             named: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    res = run_cli(tmp_path)
    assert_cli_contract(res)
    assert res.exit_code == 2
    assert named in res.stderr


def test_mixtral_with_a_numeric_experts_count_is_sized_as_moe() -> None:
    """The counterpart of the string case: the same config with 8 is an MoE of 8 experts, not dense."""
    spec = model_spec_from_config(BASES["mistralai__Mixtral-8x7B-v0.1"], name="mixtral")
    assert spec.num_experts == 8 and all(layer.moe for layer in spec.layers)
