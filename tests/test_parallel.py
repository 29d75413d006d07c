"""Data and expert parallelism (planner.memory.parallel): the per-rank arithmetic pinned against vLLM 0.33.0's code,
the startup checks with vLLM's own messages, and the verdicts of published recipe commands.

Sources pinned here (vLLM 0.33.0 wheel): FusedMoEParallelConfig.make and its docstring examples
(model_executor/layers/fused_moe/config.py), determine_expert_map (fused_moe/expert_map_manager.py),
validate_fp8_block_shape / validate_fp8_block_shape_moe (quantization/utils/fp8_utils.py), ParallelConfig
(config/parallel.py), FusedMoEFactory's EPLB check (fused_moe/layer.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gpu_catalog
import model_catalog
from planner.cli import app
from planner.memory.estimator import estimate
from planner.memory.parallel import Layout, fp8_block_errors, layout_of
from planner.memory.quant import NONE, resolve_scheme
from planner.memory.spec import model_spec_from_config
from planner.memory.weights import rank_weights
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv
from planner.sourcing.loader import from_catalog

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "model-configs"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("VLLM_PLANNER_GPU_CATALOG", raising=False)


def _loaded(name: str):
    hit = model_catalog.lookup(name)
    assert hit is not None, name
    return from_catalog(hit, hit.repo_id)


def _config(name: str) -> dict:
    path = REF / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    return _loaded(name.replace("__", "/")).config


def _est(model: str, gpu: str, command: str):
    cmd = parse_serve_argv(f"vllm serve {model} {command}")
    return estimate(_loaded(model), gpu_catalog.resolve(gpu), cmd.args)


# ---------------------------------------------------------------------------------------------------------
# the layout: FusedMoEParallelConfig.make's docstring examples, and determine_expert_map


@pytest.mark.parametrize(("tp", "dp", "ep", "moe_tp", "ep_size"), [
    (2, 1, False, 2, 1),   # "TP = 2, DP = 1 and EP = False: tensors are sharded across 2 devices"
    (1, 2, False, 2, 1),   # "TP = 1, DP = 2 and EP = False: TP = {2, r}": flattened over DP
    (2, 2, False, 4, 1),   # "TP = 2, DP = 2 and EP = False: sharded across 4 devices"
    (2, 1, True, 1, 2),    # "TP = 2, DP = 1 and EP = True: the experts are split between the 2 devices"
    (1, 2, True, 1, 2),    # "TP = 1, DP = 2 and EP = True"
    (2, 2, True, 1, 4),    # "TP = 2, DP = 2 and EP = True: split between the 4 devices"
    (1, 1, True, 1, 1),    # use_ep needs dp x pcp x tp > 1
])
def test_moe_parallel_config_examples(tp: int, dp: int, ep: bool, moe_tp: int, ep_size: int) -> None:
    lay = Layout(tp=tp, dp=dp, ep=ep)
    assert (lay.moe_tp, lay.ep_size) == (moe_tp, ep_size)
    assert lay.gpus == tp * dp and lay.world == tp


def test_expert_map_gives_the_remainder_to_the_first_ranks() -> None:
    spec = model_spec_from_config(_config("Qwen__Qwen3-30B-A3B"))      # 128 experts
    lay = Layout(tp=1, dp=3, ep=True)
    counts = [lay.experts_on_rank(spec, r) for r in range(3)]
    assert counts == [43, 43, 42] and sum(counts) == 128        # base 42, remainder 2 to ranks 0 and 1
    assert lay.max_experts_per_rank(spec) == 43


def test_sequence_parallel_moe_replicates_deepseek_shared_experts() -> None:
    spec = model_spec_from_config(_config("deepseek-ai__DeepSeek-R1"))
    assert Layout(tp=2, dp=2, ep=True).shared_expert_tp(spec) == 1          # use_sequence_parallel_moe
    assert Layout(tp=2, dp=1, ep=True).shared_expert_tp(spec) == 2
    assert Layout(tp=2, dp=2, ep=True, all2all="flashinfer_nvlink_two_sided").shared_expert_tp(spec) == 2
    qwen = model_spec_from_config(_config("Qwen__Qwen3-30B-A3B"))
    assert Layout(tp=2, dp=2, ep=True).shared_expert_tp(qwen) == 2           # Qwen MoE keeps TP


def test_layout_reads_the_serve_flags() -> None:
    spec = model_spec_from_config(_config("deepseek-ai__DeepSeek-R1"))
    args = parse_serve_argv(["vllm", "serve", "m", "-dp", "16", "-dpl", "8", "--enable-expert-parallel",
                             "--enable-eplb", "--eplb-config", '{"num_redundant_experts": 32}']).args
    lay = layout_of(args, spec)
    assert (lay.dp, lay.dp_local, lay.use_ep, lay.ep_size, lay.eplb) == (16, 8, True, 16, True)
    assert lay.physical_experts(spec) == 288 and lay.max_experts_per_rank(spec) == 18
    assert lay.nodes(8) == 2


# ---------------------------------------------------------------------------------------------------------
# per-rank weights


def _bytes(spec, lay: Layout) -> int:
    return rank_weights(spec, NONE, tp=lay.tp, pp=1, stage=0, ep=lay.ep, act_bytes=2, layout=lay).tensor_bytes


def test_dp_ep_rank_holds_its_experts_and_everything_else_whole() -> None:
    """DP8+EP: every rank holds the attention, embeddings, norms and routers of TP 1 (attention data parallel)
    and 128 / 8 whole experts: w13 [E_local, 2I, H] + w2 [E_local, H, I] per MoE layer (bf16)."""
    spec = model_spec_from_config(_config("Qwen__Qwen3-30B-A3B"))
    h, inter, e = spec.hidden_size, spec.moe_intermediate_size, spec.num_experts
    moe_layers = sum(layer.moe for layer in spec.layers)
    expert = 3 * inter * h * 2
    tp1 = _bytes(spec, Layout())
    dp8 = _bytes(spec, Layout(dp=8, ep=True))
    assert tp1 - dp8 == moe_layers * (e - e // 8) * expert
    # Without EP the same ranks split every expert 8 ways (TP flattened over DP): the same expert bytes.
    assert _bytes(spec, Layout(dp=8)) == dp8


def test_dp_without_moe_is_replicas() -> None:
    spec = model_spec_from_config(_config("meta-llama__Llama-3.1-8B-Instruct"))
    assert _bytes(spec, Layout(tp=2, dp=4)) == _bytes(spec, Layout(tp=2))


def test_deepseek_r1_dp8_ep_on_h200_starts_with_8x_the_kv() -> None:
    """The recipe `vllm serve deepseek-ai/DeepSeek-R1-0528 --data-parallel-size 8 --enable-expert-parallel`
    on 8 x H200 starts; each DP engine logs its own KV cache."""
    est = _est("deepseek-ai/DeepSeek-R1-0528", "H200", "--data-parallel-size 8 --enable-expert-parallel")
    assert est.fits, est.errors
    doc = est.to_json()
    par = doc["parallel"]
    assert doc["gpu"]["count"] == 8
    assert (par["data_parallel_size"], par["expert_parallel_size"], par["experts_per_rank"]) == (8, 8, 32)
    assert par["kv_tokens_total"] == 8 * doc["kv_cache"]["tokens"] > 0
    # Attention is replicated per DP rank: a rank holds more than 1/8 of the TP 8 rank's... of the model.
    tp8 = _est("deepseek-ai/DeepSeek-R1-0528", "H200", "--tensor-parallel-size 8")
    assert est.per_gpu.weights_gib > tp8.per_gpu.weights_gib
    # The MoE of the profile run sees every DP rank's tokens (the naive dispatch gathers them).
    assert est.per_gpu.activation_gib > tp8.per_gpu.activation_gib


def test_recipe_verdict_through_the_cli() -> None:
    r = runner.invoke(app, ["estimate", "--gpu", "H200", "--offline", "--", "vllm", "serve",
                            "deepseek-ai/DeepSeek-R1-0528", "--data-parallel-size", "8", "--enable-expert-parallel"])
    assert r.exit_code == 0, r.output
    assert "8 x H200-141GB (TP 1, PP 1, DP 8, EP 8)" in r.stdout
    assert "each of the 8 DP engines" in r.stdout and "FITS" in r.stdout


# ---------------------------------------------------------------------------------------------------------
# fp8 block shapes and the other startup checks


MOE_MSG = "The output_size of gate's and up's weight = {n} is not divisible by weight quantization block_n = 128."


@pytest.mark.parametrize(("model", "gpu", "flags", "inter"), [
    ("Qwen/Qwen3-30B-A3B-FP8", "L40S", "-tp 4", 192),          # 768 / 4
    ("Qwen/Qwen3-30B-A3B-FP8", "L40S", "-tp 8", 96),
    ("Qwen/Qwen3-30B-A3B-FP8", "L40S", "-tp 2 -dp 2", 192),    # TP flattened over DP: 768 / 4
    ("Qwen/Qwen3-235B-A22B-FP8", "L40S", "-tp 8", 192),        # 1536 / 8
])
def test_fp8_block_refusals_carry_vllms_message(model: str, gpu: str, flags: str, inter: int) -> None:
    est = _est(model, gpu, flags)
    assert not est.fits
    codes = {e.code: e.message for e in est.errors}
    assert codes["fp8_block_not_divisible"] == MOE_MSG.format(n=inter)


@pytest.mark.parametrize(("model", "flags"), [
    ("Qwen/Qwen3-30B-A3B-FP8", "-tp 2"),
    ("Qwen/Qwen3-30B-A3B-FP8", "-tp 4 --enable-expert-parallel"),
    ("Qwen/Qwen3-235B-A22B-FP8", "-tp 8 --enable-expert-parallel"),   # the 8 x L40S run of vllm-runs c054
])
def test_fp8_layouts_vllm_accepts(model: str, flags: str) -> None:
    est = _est(model, "L40S", flags)
    assert not any(e.code == "fp8_block_not_divisible" for e in est.errors)


def test_dense_fp8_block_checks_follow_validate_fp8_block_shape() -> None:
    """Column parallel: each output partition % block_n; row parallel: the input partition % block_k;
    a merged layer at TP 1 checks all its shards but the last."""
    cfg = {**_config("Qwen__Qwen3-8B"), "intermediate_size": 1536,
           "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    spec = model_spec_from_config(cfg)
    scheme, _ = resolve_scheme(spec.quantization_config, None)
    msgs = [f.message for f in fp8_block_errors(spec, scheme, Layout(tp=8))]
    assert msgs == ["Weight output_partition_size = 192 is not divisible by weight quantization block_n = 128. "
                    "(gate_up_proj at tensor parallel size 8)"]
    assert fp8_block_errors(spec, scheme, Layout(tp=4)) == []
    odd = model_spec_from_config({**cfg, "intermediate_size": 1600})
    assert [f.message for f in fp8_block_errors(odd, scheme, Layout(tp=1))] == [
        "Weight output_partition_size = 1600 is not divisible by weight quantization block_n = 128. "
        "(gate_up_proj at tensor parallel size 1)"]


def test_parallel_config_refusals() -> None:
    est = _est("deepseek-ai/DeepSeek-R1-0528", "H200", "-dp 4 -dpl 8 --enable-expert-parallel")
    assert "data_parallel_size_local (8) must be <= data_parallel_size (4)" in [e.message for e in est.errors]
    est = _est("deepseek-ai/DeepSeek-R1-0528", "H200", "-tp 8 --enable-eplb")
    assert "enable_expert_parallel must be True to use EPLB." in [e.message for e in est.errors]
    est = _est("deepseek-ai/DeepSeek-R1-0528", "H200",
               "-dp 8 --enable-expert-parallel --enable-eplb --eplb-config '{\"num_redundant_experts\": 30}'")
    assert ("EPLB currently only supports even distribution of experts across ranks. Got 286 experts and 8 EP "
            "ranks.") in [e.message for e in est.errors]
    ok = _est("deepseek-ai/DeepSeek-R1-0528", "H200",
              "-dp 8 --enable-expert-parallel --enable-eplb --eplb-config '{\"num_redundant_experts\": 32}'")
    assert not any(e.code == "experts_not_divisible" for e in ok.errors)
    assert ok.to_json()["parallel"]["experts_per_rank"] == 36


def test_moe_intermediate_must_divide_tp_times_dp_without_ep() -> None:
    cfg = {**_config("Qwen__Qwen3-30B-A3B"), "moe_intermediate_size": 774}
    args = EngineArgs(tensor_parallel_size=2, data_parallel_size=2)
    est = estimate(cfg, gpu_catalog.resolve("H100"), args)
    assert any(e.code == "intermediate_not_divisible" and "(4)" in e.message for e in est.errors)
    ep = estimate(cfg, gpu_catalog.resolve("H100"), args.with_(enable_expert_parallel=True))
    assert not any(e.code == "intermediate_not_divisible" for e in ep.errors)


# ---------------------------------------------------------------------------------------------------------
# plan


def test_plan_never_emits_a_tp_vllm_refuses() -> None:
    """Qwen3-30B-A3B-FP8 on L40S: TP 4 and TP 8 are refused (fp8 blocks), so no plan uses them without EP."""
    r = runner.invoke(app, ["plan", "Qwen/Qwen3-30B-A3B-FP8", "--gpu", "L40S", "--offline", "--num-gpus", "4",
                            "--json"])
    doc = json.loads(r.stdout)
    for p in doc["plans"]:
        assert p["expert_parallel"] or p["data_parallel_size"] > 1 or p["tensor_parallel_size"] not in (4, 8)


def test_plan_with_dp_given() -> None:
    r = runner.invoke(app, ["plan", "llama-3.1-70b", "--gpu", "H100", "-dp", "2", "--offline", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    top = doc["plans"][0]
    assert top["count"] == top["tensor_parallel_size"] * top["pipeline_parallel_size"] * 2
    assert doc["gpu"]["count"] == top["count"] and doc["parallel"]["engines"] == 2
    assert "--data-parallel-size 2" in doc["commands"]["vllm"]


def test_plan_moe_on_one_node_considers_dp_ep() -> None:
    """DeepSeek-R1 on 8 x H200: DP8+EP (the vLLM recipe) holds more KV in all than TP 8 (MLA's latent cache is
    replicated over TP ranks, each DP engine keeps its own), so it ranks first; TP 8 is still listed."""
    r = runner.invoke(app, ["plan", "deepseek-r1", "--gpu", "H200", "--num-gpus", "8", "--offline", "--json"])
    assert r.exit_code == 0, r.output
    plans = json.loads(r.stdout)["plans"]
    top = plans[0]
    assert (top["tensor_parallel_size"], top["data_parallel_size"], top["expert_parallel"]) == (1, 8, True)
    tp8 = next(p for p in plans if p["tensor_parallel_size"] == 8)
    assert top["kv_tokens_total"] > tp8["kv_tokens_total"]
