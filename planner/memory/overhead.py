"""Everything vLLM subtracts before the KV cache besides the weights: activation peak, non-torch memory
and the CUDA-graph estimate.

These are the least exact terms of the model: vLLM measures them at startup, and what it measures
depends on kernels (sampler, MoE backend) and on the release. Each constant below names the runs in
tests/data/validation/vllm-runs.jsonl it was fitted on and what it approximates; `python -m tools.fidelity`
reports the residual of every case and tests/test_fidelity.py holds the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner.memory import cuda_context
from planner.memory.spec import ModelSpec

if TYPE_CHECKING:
    from gpu_catalog import Gpu

GiB = 2**30


@dataclass(frozen=True)
class OverheadRegime:
    """Release-dependent coefficients (see vllm_versions.rules_for)."""

    # Bytes per (request x vocab) logit element at the sampler's peak during the profile run.
    #  38.5: PyTorch-native top-k/top-p (fp32 logits, sort values + int64 indices, softmax, cumsum,
    #        masks). Fitted on V0 c057 (phi-4, 1.16 GiB at 320 x 100352 -> 38.7), c040 (1.42 GiB at
    #        256 x 152064 -> 39.2) and V1 c054 (1.40 at 256 x 151936 -> 38.6), c008/c012 (7.38 at
    #        1024 x 201088 -> 38.5; 5.56 at 1024 x 151936 -> 38.4).
    #  15.2: V1 0.19 with the Triton top-k/top-p kernel: c083 (2.21 GiB at 1024 x 152064 -> 15.2).
    #  10.0: V1 0.8-0.10 with FlashInfer's in-place top-k/top-p (vllm_versions).
    #   2.4: Model Runner V2 (0.25+), see vllm_versions.
    sampler_bytes_per_logit: float
    # Persistent buffers and allocator slack counted as "non-torch" / consumed beyond the weights, GiB,
    # at TP=1, and the extra once the instance spans several GPUs (custom all-reduce / NCCL buffers
    # created after the memory snapshot in that release; the logs show no further growth from TP2 to
    # TP4: c084 2.06 vs c085 2.13 GiB).
    non_torch_base_gib: float
    non_torch_multi_gpu_gib: float
    # V0 0.6.x (planner/memory/cuda_context.py): the growth after init_device per resident thread slot of the
    # device (bytes), and whether the release's profile counts the process's CUDA context (0.6.4 only).
    non_torch_bytes_per_thread_slot: float = 0.0
    counts_cuda_context: bool = False


def sampler_peak_bytes(spec: ModelSpec, num_reqs: int, regime: OverheadRegime) -> int:
    """Peak of the dummy sampler run: logits are gathered to the full vocab on every rank."""
    return int(num_reqs * spec.vocab_size * regime.sampler_bytes_per_logit)


def forward_peak_bytes(spec: ModelSpec, num_tokens: int, *, tp: int, act_bytes: int, moe_layer: bool,
                       moe_tp: int | None = None, moe_tokens: int | None = None) -> int:
    """Largest live activation set inside one decoder layer of the dummy forward at num_tokens.

    Dense MLP: the layer input and residual (2 x T x H), the gate_up output (T x 2I/tp) and the
    activation output (T x I/tp). MoE (fused_moe): its intermediate caches are T x top_k x
    (2I/tp + I/tp + H) plus the router logits, where the MoE's TP (`moe_tp`: 1 under expert parallelism,
    TP x DP without) splits I and `moe_tokens` are the tokens it sees (every DP rank's, gathered by the
    naive dispatch; planner.memory.parallel).
    """
    h = spec.hidden_size
    t = num_tokens
    if moe_layer and spec.is_moe:
        inter = spec.moe_intermediate_size // (moe_tp or tp)
        k = spec.num_experts_per_tok
        tm = moe_tokens or t
        moe = tm * k * (3 * inter + h) + tm * spec.num_experts * 2
        shared = t * 3 * (spec.shared_expert_intermediate_size // tp)
        return (2 * t * h + moe + shared) * act_bytes
    inter = spec.intermediate_size // tp
    return (2 * t * h + 3 * t * inter) * act_bytes


def activation_peak_bytes(spec: ModelSpec, *, num_tokens: int, num_reqs: int, tp: int, act_bytes: int,
                          last_stage: bool, regime: OverheadRegime, moe_tp: int | None = None,
                          moe_tokens: int | None = None) -> int:
    """vLLM's "peak activation" (torch peak minus what stays allocated) of the profile run."""
    moe = any(layer.moe for layer in spec.layers)
    fwd = forward_peak_bytes(spec, num_tokens, tp=tp, act_bytes=act_bytes, moe_layer=moe, moe_tp=moe_tp,
                             moe_tokens=moe_tokens)
    if not last_stage:
        return fwd
    # The sampler runs after the forward with the final hidden states still alive.
    samp = sampler_peak_bytes(spec, num_reqs, regime) + num_tokens * spec.hidden_size * act_bytes
    return max(fwd, samp)


def non_torch_bytes(*, tp: int, pp: int, regime: OverheadRegime, gpu: Gpu | None = None) -> int:
    """What the release's memory profile counts as non-torch memory on one GPU.

    The per-GPU terms of V0 0.6 (the growth per thread slot, the CUDA context on 0.6.4) use `gpu`'s SMs
    and threads per SM; without a GPU, those of planner.memory.cuda_context.REFERENCE_GPU.
    """
    multi = regime.non_torch_multi_gpu_gib if tp * pp > 1 else 0.0
    total = int((regime.non_torch_base_gib + multi) * GiB)
    if regime.non_torch_bytes_per_thread_slot:
        total += int(regime.non_torch_bytes_per_thread_slot * cuda_context.thread_slots(gpu))
    if regime.counts_cuda_context:
        total += cuda_context.context_bytes(gpu)
    return total


# CUDA-graph estimate (0.21+). vLLM captures piecewise graphs for every capture size and samples the
# two largest full graphs, then extrapolates (profile_cudagraph_memory). Its figure grows with the layers
# on the stage. Fitted: the 0.22 Qwen2.5-7B/A10G study (c062/c063: 28 layers, capture sizes up to 256)
# leaves 0.94 GiB for the estimate, 0.034 GiB per layer at hidden 3584, i.e. 0.036 at 4096; the 0.33
# Llama-3.1-8B/H100 log (§1.3, 32 layers, sizes up to 512) is consistent with 1.15 GiB. Scaled by the
# square root of the hidden width; small capture sets (--performance-mode interactivity, or a low
# --max-cudagraph-capture-size) scale it down linearly below 128. MoE layers capture the fused-MoE
# workspaces too (x1.5, unverified). The estimate itself is pessimistic (vLLM#45178): this is the least
# certain term of the model.
_CG_GIB_PER_LAYER = 0.036
_CG_REF_HIDDEN = 4096
_CG_FULL_CAPTURE = 128


def cudagraph_estimate_bytes(spec: ModelSpec, *, layers_on_stage: int, max_capture: int, tp: int) -> int:
    if max_capture <= 0:
        return 0
    width = (spec.hidden_size / _CG_REF_HIDDEN) ** 0.5
    scale = min(1.0, max_capture / _CG_FULL_CAPTURE)
    moe = 1.5 if spec.is_moe else 1.0
    return int(_CG_GIB_PER_LAYER * layers_on_stage * width * scale * moe * GiB)
