"""Time of one engine step (one forward pass over a batch), from the model's shapes and the GPU's peaks.

Pure arithmetic. Per TP rank of the slowest pipeline stage, a step is a roofline per operator class:

* linear layers: max(weight bytes read / achieved bandwidth, GEMM FLOPs / achieved FLOPS). The bytes are
  the quantized layout's (planner.memory.quant.linear_bytes), so fp8/int4 checkpoints read fewer bytes. MoE layers
  read only the experts the batch's tokens touch: with T tokens routed to k of E experts each, the
  expected number of distinct experts is E (1 - (1 - k/E)^T). Fused-MoE grouped GEMMs reach a smaller
  fraction of the FLOPS than dense ones, and less the narrower each rank's slice of an expert: tensor
  parallelism splits the expert's intermediate dimension I over the ranks, and a GEMM whose N (gate/up)
  or K (down) is I/tp = 192-352 (DeepSeek-V3, GLM-4.x at TP 4-8) fills few tensor-core tiles; the
  efficiency is moe_efficiency x I_r / (I_r + moe_narrow_half) (expert parallelism keeps I whole).
  GEMMs run in fp8 only where vLLM runs fp8
  GEMMs (fp8 weights on compute capability >= 8.9, or ROCm gfx942+), int8 for W8A8; weight-only schemes
  (AWQ/GPTQ/Marlin, fp8 below 8.9, MXFP4 below Blackwell) run 16-bit math with a dequantization factor.
* attention: max(KV bytes read / bandwidth, attention FLOPs / FLOPS). Decode reads each sequence's context
  once (sliding-window layers at most the window); a prefill chunk of c tokens after p cached tokens
  does 4 x heads x head_dim x (c p + c (c + 1) / 2) FLOPs per full-attention layer (quadratic in the
  chunk), at most c x window per sliding-window layer.
* tensor parallelism: two all-reduces per layer of tokens x hidden x dtype bytes (ring: 2 (tp - 1) / tp of
  it over the link), plus a fixed latency each, over the catalog's interconnect (NVLink/xGMI vs PCIe).
* pipeline parallelism: stages hold 1/pp of the layers; a step's time is the slowest stage plus the
  activation hand-offs. V1 keeps pp batches in flight, so the engine completes one batch per stage time
  (the scheduler simulation treats a step as the slowest stage's time; the bubble is the hand-off).
* several nodes (planner.memory.parallel, the catalog's `internode_gbps`): the PP hand-off between stages on
  different nodes, and the TP all-reduces of a TP group wider than a node, go over the inter-node network
  (its bandwidth per GPU, plus INTERNODE_LATENCY_S per message) instead of the node's own links. Data-
  parallel engines and expert parallelism's all-to-all are not modelled (planner.performance.coverage says so).
* fixed kernel time per layer: a decoder layer runs some fifteen kernels (norms, rotary, attention,
  activation, all-reduce, ...) of a few microseconds each even on a tiny batch, inside a CUDA graph too;
  a fused-MoE layer adds its routing, top-k, token permutation and two grouped GEMMs. These floors are
  what a small-batch decode step costs beyond its weight reads.
* per-step CPU overhead by release regime (V0, V1, V1 with async scheduling) plus a per-sequence term
  (scheduling, input preparation, sampling and output bookkeeping per running request): serial with the
  GPU in V0 and in V1 without async scheduling, overlapped with it (bounding the step only when longer)
  with async scheduling; and kernel-launch time per layer under --enforce-eager (no CUDA graphs). V0 adds a
  per-sequence part that stays serial (scheduling and input preparation for the next step), and V0
  multi-step spreads the per-step overhead and that part over the N decode steps of a window.
* attention reads the KV cache through paged-attention kernels, which reach a different fraction of the
  bandwidth than the weight-streaming GEMMs (their own coefficient).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpu_catalog import Gpu
from planner.memory.quant import QuantScheme, linear_bytes
from planner.memory.spec import ModelSpec
from planner.memory.weights import pad_vocab, pp_partition
from planner.performance.calibration import Calibration


@dataclass(frozen=True)
class Hardware:
    """One GPU's peaks, in bytes/s and FLOP/s."""

    name: str
    mem_bw: float           # HBM/GDDR bandwidth, bytes/s
    gemm_flops: float       # dense peak for the GEMMs' dtype (fp8 / int8 / 16-bit)
    attn_flops: float       # 16-bit dense peak (attention runs in the activation dtype)
    link_bw: float          # per-GPU one-direction link bandwidth for all-reduce, bytes/s
    fast_link: bool         # NVLink/NVSwitch or xGMI (custom all-reduce) vs PCIe
    weight_only: bool       # GEMMs dequantize weights in the kernel (slower compute-bound)
    rocm: bool = False      # AMD Instinct: vLLM's ROCm kernels reach a smaller fraction of the peaks
    net_bw: float | None = None   # inter-node network per GPU, bytes/s (None: not in the catalog)
    gpus_per_node: int = 8
    network: bool = False   # tensor parallelism over a host network (ranks in separate pods or nodes)
    # the linear layers quantize their activations before each GEMM (fp8 or int8 W8A8 GEMMs: a
    # per-token(-group) quantization kernel ahead of every quantized linear)
    act_quant: bool = False
    # FlashMLA's sparse bf16 kernel (DeepSeek-V3.2) runs a multiple of this many query heads per rank,
    # padding fewer: 64 on Hopper, 128 on Blackwell (vllm/v1/attention/backends/mla/flashmla_sparse.py)
    sparse_mla_heads: int = 64


# One message over the inter-node network (RDMA over InfiniBand/RoCE plus NCCL's own launch): not fitted,
# there is no multi-node run in ../shared/validation/vllm-perf.jsonl; the order of magnitude of a NCCL
# send/recv between nodes (a few microseconds on the wire, ~20 us end to end).
INTERNODE_LATENCY_S = 20e-6


def _link_bw(gpu: Gpu) -> tuple[float, bool]:
    text = gpu.interconnect or ""
    if gpu.nvlink:
        m = re.search(r"([\d.]+)\s*(TB|GB)/s", text)
        total = float(m.group(1)) * (1e12 if m and m.group(2) == "TB" else 1e9) if m else 300e9
        return total / 2, True           # datasheet figures are both directions together
    if "Infinity Fabric" in text or "xGMI" in text:
        m = re.search(r"(\d+)\s*links?\s*x\s*([\d.]+)\s*GB/s", text)
        total = int(m.group(1)) * float(m.group(2)) * 1e9 if m else 896e9
        return total / 2, True
    gen = re.search(r"PCIe\s*(\d)", text)
    per_dir = {3: 16e9, 4: 32e9, 5: 64e9}.get(int(gen.group(1)) if gen else 4, 32e9)
    return per_dir, False


def gemm_mode(gpu: Gpu, scheme: QuantScheme) -> str:
    """'fp8' | 'int8' | '16bit' | 'weight_only': how vLLM runs the linear layers' math on this GPU."""
    amd = gpu.vendor == "amd"
    cc = gpu.cc
    kind = scheme.kind
    if kind == "fp8":
        return "fp8" if (amd and cc >= (9, 4)) or (not amd and cc >= (8, 9)) else "weight_only"
    if kind == "int8" and not scheme.experts_only:
        return "int8"
    if kind in ("mxfp4", "nvfp4"):
        return "fp8" if cc >= (10, 0) and not amd else "weight_only"
    if kind in ("packed_int", "nf4") or (kind == "int8" and scheme.experts_only):
        return "weight_only"
    return "16bit"


# A host network between tensor-parallel ranks that cannot use NVLink or PCIe peer access (separate pods
# or nodes): 100 Gb/s Ethernet per direction (assumed; the NCCL socket transport on a datacenter pod
# network). Used only where the deployment says its ranks are in separate pods (tools/perf_fidelity.py).
NETWORK_LINK_BW = 12.5e9


def hardware(gpu: Gpu, scheme: QuantScheme, *, link: str | None = None) -> Hardware:
    """Peaks from gpu_catalog. Raises ValueError when the catalog lacks the figures. `link="network"`:
    the tensor-parallel ranks talk over a host network instead of the catalog's interconnect."""
    if not gpu.memory_bandwidth_gbps:
        raise ValueError(f"{gpu.name}: the GPU catalog has no memory bandwidth for it")
    half = gpu.tflops_bf16 if gpu.cc >= (8, 0) and gpu.tflops_bf16 else (gpu.tflops_fp16 or gpu.tflops_bf16)
    if not half:
        raise ValueError(f"{gpu.name}: the GPU catalog has no 16-bit TFLOPS for it")
    mode = gemm_mode(gpu, scheme)
    peak = {"fp8": gpu.tflops_fp8, "int8": gpu.tflops_int8}.get(mode) or half
    link_bw, fast = _link_bw(gpu)
    network = link == "network"
    if network:
        link_bw, fast = NETWORK_LINK_BW, False
    net = gpu.internode_gbps * 1e9 / 8 if gpu.internode_gbps else None
    return Hardware(name=gpu.name, mem_bw=gpu.memory_bandwidth_gbps * 1e9, gemm_flops=peak * 1e12,
                    attn_flops=half * 1e12, link_bw=link_bw, fast_link=fast, weight_only=mode == "weight_only",
                    rocm=gpu.vendor == "amd", net_bw=net, gpus_per_node=gpu.gpus_per_node, network=network,
                    sparse_mla_heads=128 if gpu.vendor != "amd" and gpu.cc >= (10, 0) else 64,
                    act_quant=mode in ("fp8", "int8"))


@dataclass(frozen=True)
class ModelCost:
    """Per TP rank of the slowest pipeline stage: what one step reads and computes."""

    layers: int                     # decoder layers on the stage
    attn_layers: int                # full-attention layers on the stage
    sliding_layers: int
    window: int                     # sliding window (0 when none)
    dense_bytes: float              # non-expert weights read once per step (all linears, lm_head)
    dense_flops_per_token: float    # 2 x non-expert linear params (without lm_head)
    lm_head_flops_per_seq: float    # logits only for the sampled position of each sequence
    moe_layers: int
    experts: int                    # experts held on this rank per MoE layer
    experts_total: int
    top_k: int
    expert_bytes: float             # one expert's weights on this rank (one layer)
    expert_flops_per_token: float   # 2 x one expert's params on this rank (one layer)
    expert_inter_local: int         # the expert's intermediate size on this rank (I / tp, or I with EP)
    kv_bytes_per_token_layer: float  # KV bytes one context token occupies in one layer, this rank
    attn_flops_per_pair_layer: float  # FLOPs per (query token, context token) pair per layer, this rank
    hidden: int
    act_bytes: int
    tp: int
    pp: int
    # bytes of the 16-bit copy of the weights if read at peak: the physics floor of a decode step
    min_weight_bytes: float = 0.0
    nodes: int = 1                  # nodes the replica spans
    # Prefill chunks' attention, where it differs from decode's (MLA; None: attn_flops_per_pair_layer):
    # FLOPs per (query, key) pair per layer, and the GEMM FLOPs per already-cached context token per layer
    # that a chunk spends decompressing the latent cache back to keys and values (kv_b_proj).
    prefill_pair_flops_layer: float | None = None
    ctx_decompress_flops_layer: float = 0.0
    # DeepSeek-V3.2's sparse MLA (index_topk > 0): each query attends to at most index_topk keys, in the
    # absorbed form over the latent for prefill and decode alike, with sparse_heads query heads on the rank
    # (padded to the kernel's multiple where sparse_pad: the bf16 cache); its indexer scores every
    # (query, context key) pair at indexer_pair_flops (fp8, replicated on every rank) and reads
    # indexer_kv_bytes per context token per layer.
    index_topk: int = 0
    # GEMM launches of the stage's linear layers (not the experts' grouped GEMMs nor lm_head), and how
    # many of them are of quantized weights (an activation-quantization kernel each where act_quant)
    linear_launches: int = 0
    quantized_launches: int = 0
    sparse_heads: int = 0
    sparse_pad: bool = False
    sparse_pair_flops_per_head: float = 0.0
    indexer_pair_flops: float = 0.0
    indexer_kv_bytes: float = 0.0


def model_cost(spec: ModelSpec, scheme: QuantScheme, *, tp: int, pp: int, act_bytes: int, kv_bytes: int,
               ep: bool = False, nodes: int = 1) -> ModelCost:
    h = spec.hidden_size
    parts = pp_partition(spec.num_layers, pp)
    stage = max(range(pp), key=lambda s: parts[s])
    start = sum(parts[:stage])
    layer_ids = range(start, start + parts[stage])
    last = stage == pp - 1
    dense_b = 0.0
    dense_e = 0.0

    li = layer_ids.start

    launches = q_launches = 0

    def lin(n_out: int, k_in: int, module: str) -> None:
        nonlocal dense_b, dense_e, launches, q_launches
        # per layer: a checkpoint may keep some layers' linears 16-bit (read at their real width)
        q = not scheme.experts_only and not scheme.skips(module, li)
        launches += 1
        q_launches += bool(q and scheme.is_quantized)
        dense_b += sum(linear_bytes(scheme, n_out, k_in, act_bytes, quantized=q))
        dense_e += n_out * k_in

    heads_r = max(1, spec.num_heads // tp)
    kv_r = max(1, spec.num_kv_heads // tp)
    attn = sliding = moe_layers = 0
    window = 0
    expert_b = expert_e = 0.0
    inter_local = 0
    for li in layer_ids:
        layer = spec.layers[li]
        if layer.attention == "mla":
            nope, rope, v = spec.qk_nope_head_dim, spec.qk_rope_head_dim, spec.v_head_dim
            if spec.q_lora_rank:
                lin(spec.q_lora_rank + spec.kv_lora_rank + rope, h, "self_attn.fused_qkv_a_proj")
                lin(heads_r * (nope + rope), spec.q_lora_rank, "self_attn.q_b_proj")
            else:
                lin(heads_r * (nope + rope), h, "self_attn.q_proj")
                lin(spec.kv_lora_rank + rope, h, "self_attn.kv_a_proj_with_mqa")
            lin(heads_r * (nope + v), spec.kv_lora_rank, "self_attn.kv_b_proj")
            lin(h, heads_r * v, "self_attn.o_proj")
            if spec.index_topk:
                # the indexer's projections are ReplicatedLinear: whole on every rank
                lin(spec.index_n_heads * spec.index_head_dim, spec.q_lora_rank or h, "self_attn.indexer.wq_b")
                lin(spec.index_head_dim, h, "self_attn.indexer.wk")
                lin(spec.index_n_heads, h, "self_attn.indexer.weights_proj")
        elif layer.attention not in ("linear", "none"):
            lin((heads_r + 2 * kv_r) * spec.head_dim, h, "self_attn.qkv_proj")
            lin(h, heads_r * spec.v_head_dim, "self_attn.o_proj")
        if layer.attention in ("sliding", "chunked") and layer.window:
            sliding += 1
            window = max(window, layer.window)
        elif layer.attention not in ("linear", "none"):
            attn += 1
        if layer.moe:
            moe_layers += 1
            dense_b += spec.num_experts * h * act_bytes      # router
            dense_e += spec.num_experts * h
            inter_r = spec.moe_intermediate_size // (1 if ep else tp)
            if scheme.is_quantized and not scheme.skips("mlp.experts", li):
                eb = sum(linear_bytes(scheme, 2 * inter_r, h, act_bytes)) + sum(linear_bytes(scheme, h, inter_r,
                                                                                             act_bytes))
            else:
                eb = 3 * inter_r * h * act_bytes
            expert_b, expert_e = float(eb), float(3 * inter_r * h)
            inter_local = inter_r
            if spec.shared_expert_intermediate_size:
                si = spec.shared_expert_intermediate_size // tp
                lin(2 * si, h, "mlp.shared_expert.gate_up_proj")
                lin(h, si, "mlp.shared_expert.down_proj")
        elif spec.intermediate_size:
            inter_r = spec.intermediate_size // tp
            lin((2 if spec.mlp_gated else 1) * inter_r, h, "mlp.gate_up_proj")
            lin(h, inter_r, "mlp.down_proj")
    body_e = dense_e
    lm_e = 0.0
    if last:
        vocab_r = pad_vocab(spec.vocab_size) // tp
        lm_q = scheme.lm_head_quantized and scheme.is_quantized
        dense_b += sum(linear_bytes(scheme, vocab_r, h, act_bytes, quantized=lm_q))
        lm_e = float(vocab_r * h)
    prefill_pair: float | None = None
    decompress = 0.0
    if spec.is_mla:
        kv_tok = (spec.kv_lora_rank + spec.qk_rope_head_dim) * kv_bytes     # latent, replicated over TP
        # absorbed MLA decode: scores over the 576-wide latent plus values over the 512-wide part
        pair = 2.0 * heads_r * (2 * spec.kv_lora_rank + spec.qk_rope_head_dim)
        # MLA prefill (vllm/v1/attention/backends/mla/common.py, MLACommonImpl._forward_prefill and
        # _compute_prefill_context; V0's MLACommonImpl the same): not absorbed. kv_b_proj decompresses the
        # latent cache to per-head keys (nope + rope wide) and values (v wide), and a varlen flash-attention
        # runs ordinary multi-head attention over them: 2 x heads x (nope + rope + v) FLOPs per pair, a
        # third of the absorbed form's over the 512/576-wide latent. The chunk's own tokens go through
        # kv_b_proj as any linear layer (counted there); the cached context is decompressed again for every
        # chunk, in pieces (the workspace), at 2 x kv_lora_rank x heads x (nope + v) FLOPs per token.
        # DeepSeek-V3.2's sparse MLA (flashmla_sparse.py, 0.13) stays absorbed ("the MQA 576/512 approach
        # for both prefill and decode"): see ModelCost.index_topk.
        if not spec.index_topk:
            prefill_pair = 2.0 * heads_r * (spec.qk_nope_head_dim + spec.qk_rope_head_dim + spec.v_head_dim)
            decompress = 2.0 * spec.kv_lora_rank * heads_r * (spec.qk_nope_head_dim + spec.v_head_dim)
    else:
        kv_tok = 2 * kv_r * spec.head_dim * kv_bytes
        pair = 4.0 * heads_r * spec.head_dim
    experts_local = -(-spec.num_experts // tp) if ep else spec.num_experts
    min_w = dense_b + moe_layers * experts_local * expert_b
    return ModelCost(layers=len(layer_ids), attn_layers=attn, sliding_layers=sliding, window=window,
                     dense_bytes=dense_b, dense_flops_per_token=2.0 * body_e, lm_head_flops_per_seq=2.0 * lm_e,
                     moe_layers=moe_layers, experts=experts_local, experts_total=spec.num_experts,
                     top_k=spec.num_experts_per_tok, expert_bytes=expert_b, expert_flops_per_token=2.0 * expert_e,
                     expert_inter_local=inter_local,
                     kv_bytes_per_token_layer=float(kv_tok), attn_flops_per_pair_layer=pair, hidden=h,
                     act_bytes=act_bytes, tp=tp, pp=pp, min_weight_bytes=min_w, nodes=nodes,
                     prefill_pair_flops_layer=prefill_pair, ctx_decompress_flops_layer=decompress,
                     index_topk=spec.index_topk if spec.is_mla else 0, sparse_heads=heads_r,
                     linear_launches=launches, quantized_launches=q_launches,
                     sparse_pad=kv_bytes > 1,
                     sparse_pair_flops_per_head=2.0 * (2 * spec.kv_lora_rank + spec.qk_rope_head_dim),
                     indexer_pair_flops=2.0 * spec.index_n_heads * spec.index_head_dim,
                     # fp8 keys plus one fp32 scale per token (the indexer's own cache)
                     indexer_kv_bytes=float(spec.index_head_dim + 4))


@dataclass(frozen=True)
class Regime:
    """How the release runs steps: per-step CPU overhead and whether CUDA graphs are captured."""

    step_overhead_s: float
    per_seq_overhead_s: float
    eager: bool
    max_graph_batch: int = 512       # decode batches above the largest capture size run eagerly
    # With async scheduling (V1) the engine core prepares step n+1 while the GPU runs step n: the per-
    # sequence CPU work overlaps the step and bounds it only when it takes longer. Otherwise (V0, V1
    # without it) it runs between the steps.
    cpu_overlap: bool = False
    # A decode-only step's share of the per-step overhead where it differs from a prefill's: V0 multi-step
    # (--num-scheduler-steps N) schedules, prepares inputs and broadcasts them to the workers once per N
    # decode steps (the other steps advance the batch on the GPU: advance_step), so each pays 1/N of it.
    # None: the same as step_overhead_s.
    decode_step_overhead_s: float | None = None
    # Per-sequence CPU work that is serial with the GPU whatever the overlap (V0: Scheduler.schedule's
    # per-group bookkeeping and the driver's input preparation for step n+1 need step n's output), and the
    # share of it a decode-only step pays (V0 multi-step: 1/N). The overlappable part is per_seq_overhead_s.
    per_seq_serial_s: float = 0.0
    decode_per_seq_serial_s: float | None = None


@dataclass(frozen=True)
class StepTime:
    total: float
    weights: float         # linear layers, weight-read bound part
    compute: float         # linear + attention, FLOP-bound part
    kv_reads: float        # attention, KV-read bound part
    communication: float
    overhead: float


def experts_touched(experts: int, experts_total: int, top_k: int, tokens: int) -> float:
    """Expected distinct experts (of the `experts` on this rank) hit by `tokens` tokens choosing top_k of
    experts_total each, uniformly: experts x (1 - (1 - k/E)^T)."""
    if experts_total <= 0 or tokens <= 0:
        return 0.0
    p = min(1.0, top_k / experts_total)
    return experts * (1.0 - (1.0 - p) ** tokens)


def _linear_parts(c: ModelCost, hw: Hardware, cal: Calibration, reg: Regime, tokens: int,
                  seqs: int, decode_only: bool = False) -> tuple[float, float, float, float, float]:
    """(weight-read time, GEMM time, communication, fixed kernel time, step overhead): what a step of
    `tokens` tokens and `seqs` sampled sequences costs outside attention."""
    vendor = cal.rocm_efficiency if hw.rocm else 1.0
    bw = hw.mem_bw * cal.bw_efficiency * vendor
    fl = hw.gemm_flops * cal.flops_efficiency * vendor
    wbytes = c.dense_bytes
    flops = c.dense_flops_per_token * tokens + c.lm_head_flops_per_seq * max(1, seqs)
    if c.moe_layers:
        touched = experts_touched(c.experts, c.experts_total, c.top_k, tokens)
        wbytes += c.moe_layers * touched * c.expert_bytes
        # each token's top_k experts, of which experts/experts_total live on this rank (EP) or all (TP);
        # fused-MoE grouped GEMMs (many small per-expert GEMMs, each rank's slice I_r wide) reach a
        # smaller fraction of the FLOPS
        share = c.experts / c.experts_total if c.experts_total else 1.0
        narrow = (c.expert_inter_local / (c.expert_inter_local + cal.moe_narrow_half)
                  if c.expert_inter_local else 1.0)
        # fp8/int8 grouped GEMMs dequantize their per-block (or per-channel) scales inside the kernel's
        # inner loop (vLLM's Triton fused_moe with use_fp8_w8a8 / block_shape): a smaller fraction of their
        # peak than the 16-bit kernel reaches of its own
        low = cal.moe_fp8_factor if hw.act_quant else 1.0
        flops += (c.moe_layers * c.top_k * share * c.expert_flops_per_token * tokens
                  / (cal.moe_efficiency * narrow * low))
    t_mem = wbytes / bw
    t_fl = flops / fl * (cal.dequant_compute_factor if hw.weight_only else 1.0)
    # tensor parallel all-reduces (2 per layer) and pipeline hand-offs
    comm = 0.0
    net = hw.net_bw if c.nodes > 1 and hw.net_bw else None
    if c.tp > 1:
        if hw.network:
            lat = cal.allreduce_latency_network_s
        else:
            lat = cal.allreduce_latency_nvlink_s if hw.fast_link else cal.allreduce_latency_pcie_s
        vol = tokens * c.hidden * c.act_bytes * 2.0 * (c.tp - 1) / c.tp
        if net is not None and c.tp > hw.gpus_per_node:
            # a TP group wider than a node: the ring's slowest hops are the network's
            comm = 2 * c.layers * (lat + INTERNODE_LATENCY_S + vol / (net * cal.link_efficiency))
        else:
            comm = 2 * c.layers * (lat + vol / (hw.link_bw * cal.link_efficiency))
    if c.pp > 1:
        handoff = tokens * c.hidden * c.act_bytes
        if net is not None:
            # stages on different nodes hand the activations over the network (one NIC per GPU: each TP
            # rank sends its copy in parallel)
            comm += INTERNODE_LATENCY_S + handoff / (net * cal.link_efficiency)
        else:
            comm += handoff / (hw.link_bw * cal.link_efficiency)
    over = reg.decode_step_overhead_s if decode_only and reg.decode_step_overhead_s is not None \
        else reg.step_overhead_s
    # kernels' fixed time per layer (a floor of tiny kernels, present inside CUDA graphs too)
    kernels = cal.layer_kernel_s * c.layers + cal.moe_layer_kernel_s * c.moe_layers
    # and one per GEMM launch of the linear layers (more for MLA's five projections than for a GQA layer's
    # two), plus the activation-quantization kernel before each quantized one where the GEMM runs fp8/int8
    kernels += cal.linear_kernel_s * (c.linear_launches + (c.quantized_launches if hw.act_quant else 0))
    if reg.eager or tokens > reg.max_graph_batch:
        # no CUDA graph for this batch: every kernel is launched from Python
        over += cal.eager_per_layer_s * c.layers
    return t_mem, t_fl, comm, kernels, over


def _combine(parts: tuple[float, float, float, float, float], a_mem: float, a_fl: float, reg: Regime,
             seqs: int, decode_only: bool = False) -> StepTime:
    t_mem, t_fl, comm, kernels, over = parts
    lin_t = max(t_mem, t_fl)
    att_t = max(a_mem, a_fl)
    serial = reg.decode_per_seq_serial_s if decode_only and reg.decode_per_seq_serial_s is not None \
        else reg.per_seq_serial_s
    over += serial * seqs
    total = lin_t + att_t + comm + kernels + over
    over += kernels
    cpu = reg.per_seq_overhead_s * seqs
    if reg.cpu_overlap:
        if cpu > total:
            over += cpu - total
            total = cpu
    else:
        over += cpu
        total += cpu
    return StepTime(total=total, weights=t_mem if t_mem >= t_fl else 0.0,
                    compute=(t_fl if t_fl > t_mem else 0.0) + (a_fl if a_fl > a_mem else 0.0),
                    kv_reads=a_mem if a_mem >= a_fl else 0.0, communication=comm, overhead=over)


def step_time(c: ModelCost, hw: Hardware, cal: Calibration, reg: Regime, *, num_decode: int, decode_ctx: int,
              prefill_tokens: int, prefill_pairs: float, prefill_ctx: int = 0, num_prefill: int = 0) -> StepTime:
    """One step: `num_decode` sequences decoding one token over `decode_ctx` context tokens in all, and
    `prefill_tokens` prompt tokens in chunks whose (query, key) pairs sum to `prefill_pairs` and which
    read `prefill_ctx` already cached tokens; `num_prefill` of them sample a token (their last chunk)."""
    tokens = num_decode + prefill_tokens
    seqs = num_decode + num_prefill
    if tokens <= 0:
        return StepTime(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    parts = _linear_parts(c, hw, cal, reg, tokens, seqs, decode_only=not prefill_tokens and not num_prefill)
    pairs = decode_ctx + prefill_pairs
    # a sliding-window layer's query sees at most `window` keys
    swa_pairs = min(decode_ctx, num_decode * c.window) + min(prefill_pairs, prefill_tokens * c.window) \
        if c.window else 0.0
    a_mem, a_fl = _attention(c, hw, cal, decode_ctx + prefill_ctx + prefill_tokens, seqs, pairs, swa_pairs,
                             num_decode + prefill_tokens)
    if c.prefill_pair_flops_layer is not None and prefill_tokens:
        a_fl += _mla_prefill_extra_s(c, hw, cal, prefill_pairs, prefill_ctx)
    return _combine(parts, a_mem, a_fl, reg, seqs, decode_only=not prefill_tokens and not num_prefill)


def _mla_prefill_extra_s(c: ModelCost, hw: Hardware, cal: Calibration, prefill_pairs: float,
                         prefill_ctx: int) -> float:
    """What MLA's prefill path adds to (or, negative, saves on) the attention FLOP time that _attention gave
    its pairs at the decode (absorbed) rate: the pairs at the prefill (multi-head) rate instead, and the
    cached context's decompression through kv_b_proj (a GEMM at the linear layers' rate)."""
    vendor = cal.rocm_efficiency if hw.rocm else 1.0
    assert c.prefill_pair_flops_layer is not None
    pair_delta = (c.prefill_pair_flops_layer - c.attn_flops_per_pair_layer) * prefill_pairs * c.attn_layers
    attn = pair_delta / (hw.attn_flops * cal.flops_efficiency * vendor)
    dec = c.ctx_decompress_flops_layer * prefill_ctx * c.attn_layers / (hw.gemm_flops * cal.flops_efficiency * vendor)
    return attn + dec


def _attention(c: ModelCost, hw: Hardware, cal: Calibration, full_ctx: int, seqs: int,
               pairs: float, swa_pairs: float, queries: int = 0) -> tuple[float, float]:
    """(KV-read time, attention FLOP time) over `full_ctx` context tokens of `seqs` sequences, `pairs`
    (query, key) pairs in full-attention layers and `swa_pairs` in sliding-window ones; `queries` query
    tokens in all (sparse attention caps each at index_topk keys)."""
    vendor = cal.rocm_efficiency if hw.rocm else 1.0
    if c.index_topk:
        return _sparse_attention(c, hw, cal, full_ctx, pairs, queries, vendor)
    swa_ctx = min(full_ctx, seqs * c.window) if c.window else 0
    kv = c.kv_bytes_per_token_layer * (c.attn_layers * full_ctx + c.sliding_layers * swa_ctx)
    a_mem = kv / (hw.mem_bw * cal.kv_bw_efficiency * vendor)
    a_fl = c.attn_flops_per_pair_layer * (pairs * c.attn_layers + swa_pairs * c.sliding_layers) / (
        hw.attn_flops * cal.flops_efficiency * vendor)
    return a_mem, a_fl


def _sparse_attention(c: ModelCost, hw: Hardware, cal: Calibration, full_ctx: int, pairs: float, queries: int,
                      vendor: float) -> tuple[float, float]:
    """DeepSeek-V3.2's sparse MLA (vllm/v1/attention/backends/mla/flashmla_sparse.py and indexer.py, 0.13):
    the indexer's fp8 logits over every (query, context key) pair, its top-k, then attention over at most
    index_topk keys per query in the absorbed form. With a bf16 cache every token (decode too) goes through
    the bf16 sparse kernel, whose query heads are padded to its multiple (16 heads per rank at TP 8 run as
    64 on Hopper). A query's keys are its context; `pairs` sums them, so min(pairs, queries x topk) is the
    attended pairs where contexts are all above or all below top-k (as the sliding window's bound)."""
    heads = c.sparse_heads
    if c.sparse_pad:
        m = hw.sparse_mla_heads
        heads = -(-heads // m) * m
    attended = min(pairs, queries * c.index_topk) if queries else pairs
    kv = (c.kv_bytes_per_token_layer + c.indexer_kv_bytes) * c.attn_layers * full_ctx
    a_mem = kv / (hw.mem_bw * cal.kv_bw_efficiency * vendor)
    a_fl = (c.sparse_pair_flops_per_head * heads * attended * c.attn_layers
            / (hw.attn_flops * cal.flops_efficiency * vendor)
            + c.indexer_pair_flops * pairs * c.attn_layers / (hw.gemm_flops * cal.flops_efficiency * vendor))
    return a_mem, a_fl


_MAX_CACHED_STEPS = 1 << 18


class DecodeSteps:
    """step_time of decode-only steps, with the parts that depend only on the batch size kept per size
    (the same arithmetic, so the same floats): a long decode run costs one dictionary look-up per step."""

    def __init__(self, c: ModelCost, hw: Hardware, cal: Calibration, reg: Regime) -> None:
        self.c, self.hw, self.cal, self.reg = c, hw, cal, reg
        self._parts: dict[int, tuple[float, float, float, float, float]] = {}
        # Whole steps by (batch size, context): at a low request rate each request decodes alone, one step
        # per output token, and requests of one length walk the same (1, ctx) steps (10,000 prompts x 120
        # tokens at 0.1 req/s took 5 s without it). Bounded: cleared when full.
        self._steps: dict[tuple[int, int], StepTime] = {}

    def __call__(self, num_decode: int, decode_ctx: int) -> StepTime:
        key = (num_decode, decode_ctx)
        hit = self._steps.get(key)
        if hit is not None:
            return hit
        if len(self._steps) >= _MAX_CACHED_STEPS:
            self._steps.clear()
        out = self._steps[key] = self._step(num_decode, decode_ctx)
        return out

    def _step(self, num_decode: int, decode_ctx: int) -> StepTime:
        if num_decode <= 0:
            return StepTime(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        parts = self._parts.get(num_decode)
        if parts is None:
            parts = self._parts[num_decode] = _linear_parts(self.c, self.hw, self.cal, self.reg, num_decode,
                                                            num_decode, decode_only=True)
        # as step_time computes them for a decode-only step (no prefill pairs), to the same floats
        pairs = decode_ctx + 0.0
        swa_pairs = min(decode_ctx, num_decode * self.c.window) + 0.0 if self.c.window else 0.0
        a_mem, a_fl = _attention(self.c, self.hw, self.cal, decode_ctx, num_decode, pairs, swa_pairs, num_decode)
        return _combine(parts, a_mem, a_fl, self.reg, num_decode, decode_only=True)


def weight_floor_s(c: ModelCost, hw: Hardware) -> float:
    """Reading this rank's dense weights once at the datasheet peak: no decode step is faster."""
    return c.dense_bytes / hw.mem_bw
