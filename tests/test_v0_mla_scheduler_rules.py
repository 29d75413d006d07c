"""V0 scheduler rules by release and platform: MLA's chunked-prefill switch (0.7.1-0.7.3), MLA's default off
(0.8+ V0), the CUDA-only long-context chunked default (0.6.5+), and the predictor's refusal of prompts over the
non-chunked limit. Each test fails if its rule in planner/release/vllm_versions.py or the estimator breaks."""

from __future__ import annotations

import pytest

import gpu_catalog
from planner.memory.estimator import estimate
from planner.performance.predict import predict
from planner.performance.types import Workload
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import rules_for
from planner.sourcing.loader import load_model

H200 = gpu_catalog.resolve("H200-141GB")
MI300X = gpu_catalog.resolve("MI300X-192GB")


@pytest.fixture(scope="module")
def r1():  # type: ignore[no-untyped-def]
    return load_model("deepseek-r1", offline=True)


def _est(model, gpu, version, **kw):  # type: ignore[no-untyped-def]
    return estimate(model, gpu, EngineArgs(tensor_parallel_size=8, **kw), vllm_version=version, vllm_engine="v0")


def test_rules_fields_by_release() -> None:
    assert not rules_for("0.7.0").mla_forces_no_chunked_prefill
    assert all(rules_for(v).mla_forces_no_chunked_prefill for v in ("0.7.1", "0.7.2", "0.7.3"))
    v0_08 = rules_for("0.8.5", "v0")
    assert not v0_08.mla_forces_no_chunked_prefill and v0_08.mla_chunked_default_off
    assert not rules_for("0.8.5", "v1").mla_chunked_default_off
    assert rules_for("0.6.4").long_context_chunked_on_rocm and not rules_for("0.6.5").long_context_chunked_on_rocm


def test_mla_0_7_3_cuda_keeps_the_chunked_batch_and_turns_chunking_and_prefix_caching_off(r1) -> None:  # type: ignore[no-untyped-def]
    e = _est(r1, H200, "0.7.3")
    r = e.resolved
    # SchedulerConfig sized 2048 for the long-context chunked default; the MLA switch came after its checks
    assert (r.max_num_batched_tokens, r.enable_chunked_prefill, r.enable_prefix_caching) == (2048, False, False)
    assert e.fits and "mla_no_chunked_prefill" in {w.code for w in e.warnings}
    before = _est(r1, H200, "0.7.0")           # no MLA in 0.7.0: chunked prefill stays on
    assert before.resolved.enable_chunked_prefill and "mla_no_chunked_prefill" not in {w.code for w in before.warnings}


def test_mla_on_rocm_profiles_the_whole_context(r1) -> None:  # type: ignore[no-untyped-def]
    e = _est(r1, MI300X, "0.7.3")
    assert e.resolved.max_num_batched_tokens == 163840 and not e.resolved.enable_chunked_prefill
    h = _est(r1, H200, "0.8.5")                 # 0.8+ V0: MLA leaves chunked prefill off, on CUDA as well
    assert h.resolved.max_num_batched_tokens == 163840
    # the whole-context profile batch costs the activation: ~21 vs ~68 GiB of KV (H200 vs MI300X)
    assert 19 < h.per_gpu.kv_cache_gib < 23 and 66 < e.per_gpu.kv_cache_gib < 70
    assert e.per_gpu.activation_gib > 20


def test_long_context_chunked_default_is_cuda_only_from_0_6_5() -> None:
    m = load_model("llama-3.1-8b", offline=True)
    old = estimate(m, MI300X, EngineArgs(), vllm_version="0.6.4")
    new = estimate(m, MI300X, EngineArgs(), vllm_version="0.6.5")
    cuda = estimate(m, H200, EngineArgs(), vllm_version="0.6.5")
    assert old.resolved.enable_chunked_prefill and cuda.resolved.enable_chunked_prefill
    assert not new.resolved.enable_chunked_prefill and new.resolved.max_num_batched_tokens == 131072


def test_predict_refuses_prompts_over_the_non_chunked_limit(r1) -> None:  # type: ignore[no-untyped-def]
    e = _est(r1, H200, "0.7.3")
    w = Workload(random_input_len=3200, random_output_len=100, num_prompts=8, request_rate=float("inf"))
    with pytest.raises(ValueError, match="longer than 2048 tokens"):
        predict(e, w)
    short = Workload(random_input_len=1000, random_output_len=100, num_prompts=8, request_rate=float("inf"))
    assert predict(e, short).benchmark.completed == 8
