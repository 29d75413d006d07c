"""How tools/perf_fidelity.py maps a published benchmark point to the planner's inputs: each rule reads what the
source states (or says which assumption stands in for what it does not)."""

from __future__ import annotations

from typing import Any

import pytest

from planner.performance.predict import scheduler_steps
from tools import perf_fidelity as fidelity

DATA = fidelity.find_data(None).parent


def case(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "t000", "source": "https://github.com/acme/bench/blob/abc/README.md#L1", "vllm_version": "0.10.1.1",
        "model": "Qwen/Qwen2-7B-Instruct", "quantization": None, "kv_cache_dtype": "auto",
        "gpu": "NVIDIA A100 80GB", "num_gpus": 1, "tensor_parallel_size": 1, "pipeline_parallel_size": 1,
        "max_model_len": 16384, "max_num_seqs": None, "max_num_batched_tokens": None, "other_flags": "",
        "benchmark_tool": "benchmark_serving.py", "dataset": "random", "input_len": 1024, "output_len": 128,
        "num_prompts": 10, "request_rate": "inf (default)", "max_concurrency": None,
        "observed": {"output_tok_s": 100.0}, "family": "Qwen2/2.5 dense"}
    base.update(kw)
    return base


def test_an_unstated_version_is_the_one_the_same_document_states() -> None:
    stated, bare = case(), case(id="t001", vllm_version=None, source=case()["source"].replace("#L1", "#L99"))
    docs = fidelity.doc_versions([stated, bare])
    b = fidelity.build_case(bare, DATA, docs)
    assert b.est.rules.version.startswith("0.10.1") and "other points state" in b.note


def test_an_unstated_version_from_an_image_tag_or_a_date() -> None:
    tag = fidelity.build_case(case(vllm_version=None, other_flags="image rocm/vllm:rocm6.4.1_vllm_0.10.1_2025"), DATA)
    assert tag.est.rules.version.startswith("0.10.1") and "image tag" in tag.note
    dated = fidelity.build_case(case(vllm_version=None, other_flags="blog dated 2025-03-18"), DATA)
    assert dated.est.rules.version.startswith("0.7.3") and dated.est.rules.engine == "v0"
    build = fidelity.build_case(case(vllm_version=None, other_flags="vLLM main around 2025-08"), DATA)
    assert build.est.rules.version.startswith("0.10.1")


def test_utilization_from_the_prose_and_the_logged_kv_memory() -> None:
    util = fidelity.build_case(case(other_flags="gpu_memory_utilization 0.25 (startup log x.log)"), DATA)
    assert util.est.resolved.gpu_memory_utilization == 0.25
    logged = fidelity.build_case(case(other_flags="Test 7 (Available KV cache memory: 9.70 GiB); flags not shown"),
                                 DATA)
    assert logged.est.per_gpu.kv_cache_gib == pytest.approx(9.70, abs=0.01) and "log states" in logged.note


def test_tensor_parallelism_across_pods_uses_the_host_network() -> None:
    b = fidelity.build_case(case(tensor_parallel_size=2, num_gpus=2, other_flags="2 GPU pods host 7B model"), DATA)
    assert b.link == "network"
    assert fidelity.build_case(case(tensor_parallel_size=2, num_gpus=2), DATA).link is None


def test_a_closed_loop_ramp_up_and_a_05_release() -> None:
    b = fidelity.build_case(case(max_concurrency=8, other_flags="measured phase after 30 s ramp-up"), DATA)
    assert b.workload.ramp_up_s == 30.0
    old = fidelity.build_case(case(vllm_version="0.5.4", max_model_len=4096), DATA)
    assert old.release == "0.5.4" and old.est.rules.version.startswith("0.6")


def test_what_cannot_be_answered_says_why() -> None:
    with pytest.raises(LookupError, match="speculative decoding"):
        fidelity.build_case(case(other_flags="--speculative-config {...}"), DATA)
    with pytest.raises(LookupError, match="shared-prefix"):
        fidelity.build_case(case(dataset="generated-shared-prefix"), DATA)
    with pytest.raises(LookupError, match="no config"):
        fidelity.build_case(case(model="acme/unknown-model"), DATA)


def test_a_ttft_faster_than_a_cold_prefill_is_not_scored() -> None:
    # 1024 prompt tokens of a 7B model cannot be prefilled in 5 ms on an A100 (prefix-cache hits)
    fast = fidelity.run_case(case(num_prompts=1, observed={"output_tok_s": 80.0, "median_ttft_ms": 5.0}), DATA)
    assert "ttft" not in fast.errors and "prefix-cache" in fast.note
    cold = fidelity.run_case(case(num_prompts=1, observed={"output_tok_s": 80.0, "median_ttft_ms": 90.0}), DATA)
    assert "ttft" in cold.errors


def test_a_burst_ttft_faster_than_the_queue_of_cold_prefills_is_not_scored() -> None:
    # 50 fixed-length prompts sent at once: half of them cannot all have a first token before 25 prompts
    # of 1024 tokens are computed (over 1 s for a 7B model on an A100), however the engine batches them
    obs = {"output_tok_s": 80.0, "median_ttft_ms": 280.0}
    warm = fidelity.run_case(case(num_prompts=50, observed=obs), DATA)
    assert "ttft" not in warm.errors and "prefix-cache" in warm.note
    # the same TTFT behind a client that sends 4 at a time, or one request, is physically possible
    assert "ttft" in fidelity.run_case(case(num_prompts=50, max_concurrency=4, observed=obs), DATA).errors
    assert "ttft" in fidelity.run_case(case(num_prompts=1, observed=obs), DATA).errors
    cold = fidelity.run_case(case(num_prompts=50, observed={"output_tok_s": 80.0, "median_ttft_ms": 2500.0}), DATA)
    assert "ttft" in cold.errors


def test_offline_total_tokens_are_scored_as_throughput() -> None:
    r = fidelity.run_case(case(benchmark_tool="benchmark_throughput.py (offline)",
                               request_rate="offline (all prompts at once)",
                               observed={"output_tok_s": None, "total_tok_s": 5000.0}), DATA)
    assert r.rows and r.rows[0][:2] == ("output_throughput", "total_tok_s") and r.regime == "offline"


def test_a_shared_prefix_case_as_prefix_repetition() -> None:
    shared = case(model="Qwen/Qwen2-7B-Instruct", dataset="generated-shared-prefix", input_len=None, output_len=800,
                  num_prompts=500, max_concurrency=32,
                  other_flags="generated-shared-prefix: ~62.5% of each ~3200-token prompt (2000 tokens) is a shared "
                              "prefix, prefix caching enabled",
                  observed={"output_tok_s": 100.0, "total_input_tokens": 1636038, "completed": 500})
    built = fidelity.build_case(shared, DATA)
    w = built.workload
    assert (w.dataset_name, w.prefix_repetition_prefix_len, w.prefix_repetition_suffix_len,
            w.prefix_repetition_num_prefixes, w.prefix_repetition_output_len) == ("prefix_repetition", 2000, 1272,
                                                                                  10, 800)
    assert built.est.resolved.enable_prefix_caching is True and "group count not stated" in built.note
    with pytest.raises(LookupError, match="prefix length"):
        fidelity.build_case({**shared, "other_flags": "generated-shared-prefix"}, DATA)


def test_a_stated_speculative_config_is_passed_and_an_unstated_one_is_not_answered() -> None:
    spec = case(model="deepseek-ai/DeepSeek-R1", gpu="NVIDIA H200 SXM", num_gpus=8, tensor_parallel_size=8,
                vllm_version="0.13.0", max_model_len=8192,
                other_flags='flags: --speculative-config {"method":"mtp","num_speculative_tokens":1}; node has 8 GPUs')
    built = fidelity.build_case(spec, DATA)
    assert built.est.resolved.speculative_config == '{"method":"mtp","num_speculative_tokens":1}'
    with pytest.raises(LookupError, match="does not state its --speculative-config"):
        fidelity.build_case({**spec, "other_flags": "with Eagle-3 speculative decoding"}, DATA)


def test_v0_prefix_caching_is_off_unless_asked() -> None:
    v0 = fidelity.build_case(case(vllm_version="0.6.3"), DATA)
    assert v0.est.rules.engine == "v0" and v0.est.resolved.enable_prefix_caching is False
    v1 = fidelity.build_case(case(), DATA)
    assert v1.est.resolved.enable_prefix_caching is True


def test_a_v0_mla_context_is_shortened_to_the_prompts_the_totals_give() -> None:
    # vLLM 0.7.3 sizes max_num_batched_tokens 2048 for the long default context's chunked prefill, then MLA
    # turns chunked prefill off: 3272-token prompts would be ignored. The source streamed answers, so
    # its context was shortened; a shared-prefix case states no input_len, its token totals give it.
    r1 = case(model="deepseek-ai/DeepSeek-R1", gpu="8x NVIDIA H200 SXM5 141GB", num_gpus=8, tensor_parallel_size=8,
              vllm_version="0.7.3", max_model_len=None, quantization="fp8 (native checkpoint)",
              dataset="generated-shared-prefix", input_len=None, output_len=800, num_prompts=500, max_concurrency=32,
              other_flags="generated-shared-prefix: ~62.5% of each ~3200-token prompt (2000 tokens) is a shared "
                          "prefix, prefix caching enabled",
              observed={"output_tok_s": 600.0, "median_tpot_ms": 48.0, "total_input_tokens": 1636038,
                        "completed": 500})
    built = fidelity.build_case(r1, DATA)
    r = built.est.resolved
    assert not r.enable_chunked_prefill and min(r.max_model_len, r.max_num_batched_tokens) >= 3272 + 800
    assert "ignore prompts" in built.note
    assert not fidelity.run_case(r1, DATA).skipped


def test_a_stated_num_scheduler_steps_is_carried_as_the_flag() -> None:
    for flags in ("vllm serve x --enable-chunked-prefill=False --num-scheduler-step 15 --max-num-seqs 1024",
                  "chunked prefill False; num-scheduler-steps 15; rps=inf"):
        built = fidelity.build_case(case(vllm_version="0.6.3", other_flags=flags), DATA)
        assert scheduler_steps(built.est) == 15 and "multi-step" in built.note
    one = fidelity.build_case(case(vllm_version="0.6.3", other_flags="num-scheduler-steps 1"), DATA)
    assert scheduler_steps(one.est) == 1


def test_the_peer_comparison_scores_h100_sxm_at_fixed_concurrency_only() -> None:
    def case(i: str, gpu: str, regime: str, err: float) -> Any:
        return fidelity.CaseResult(id=i, family="f", gpu=gpu, source="s", era="V1", regime=regime,
                                   errors={"output_throughput": err})

    results = [case("a", "NVIDIA H100 SXM", "concurrency", 0.10), case("b", "NVIDIA H100 PCIe", "concurrency", 0.9),
               case("c", "NVIDIA H100 SXM", "burst", 0.9), case("d", "NVIDIA A100 SXM 80GB", "concurrency", 0.9),
               case("e", "8x NVIDIA H100 80GB HBM3 (SXM5)", "concurrency", -0.30)]
    peer = fidelity.summarize(results)["peer_subset"]
    assert peer["planner"]["output_throughput"]["n"] == 2
    assert peer["planner"]["output_throughput"]["median"] == pytest.approx(0.20)
    assert "AIConfigurator" not in peer["what"] and "6 %" in peer["aiconfigurator"]
