"""Data, expert and multi-node parallelism: how vLLM lays a model over its ranks, and what it refuses.

Follows vLLM 0.33.0:

* `ParallelConfig` (vllm/config/parallel.py): the world of one engine is TP x PP (x PCP); with
  `--data-parallel-size` N there are N engines of that world each, `world_size_across_dp` = TP x PP x DP.
  `data_parallel_size_local` (default: all of them) is how many engines run on this node; it must not
  exceed the DP size.
* `FusedMoEParallelConfig.make` (model_executor/layers/fused_moe/config.py): MoE layers are sharded over
  the TP x DP ranks of one pipeline stage. Without `--enable-expert-parallel` every expert is split by
  tensor parallelism over those TP x DP ranks (`flatten_tp_across_dp_and_pcp`); with it, whole experts
  are divided over EP = TP x DP ranks and the MoE's own TP is 1. Attention, dense MLP layers, embeddings,
  the lm_head and routers stay as each engine's TP lays them out (attention data parallel: replicated
  per DP rank).
* `determine_expert_map` (fused_moe/expert_map_manager.py): E experts over EP ranks, E // EP each, the
  first E % EP ranks one more; with EPLB the physical experts are E + `num_redundant_experts`, and
  FusedMoE refuses a count that EP does not divide.
* `use_sequence_parallel_moe`: with EP, TP > 1 and DP > 1 under the default all2all backend
  (allgather_reducescatter), DeepSeek-V2/V3 and Llama 4 build their shared experts with `disable_tp`
  (replicated on every TP rank).
* The naive dispatch (`do_naive_dispatch_combine`, fused_moe/runner/moe_runner.py) gathers the hidden
  states of every DP rank before the MoE: the profile run's MoE sees DP x max_num_batched_tokens tokens.
* fp8 block quantization (quantization/utils/fp8_utils.py): `validate_fp8_block_shape` for every fp8
  linear layer at its TP split and `validate_fp8_block_shape_moe` for the fused experts at their
  per-partition intermediate size; a layer that does not divide into block_n x block_k blocks is a
  ValueError at model construction, raised by the first such layer in construction order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from planner.memory.findings import Finding
from planner.memory.quant import QuantScheme
from planner.memory.spec import ModelSpec

if TYPE_CHECKING:
    from planner.release.engine_args import EngineArgs

# vLLM's default --all2all-backend (ParallelConfig.all2all_backend, 0.33.0) and the backends with which
# use_sequence_parallel_moe holds.
DEFAULT_ALL2ALL = "allgather_reducescatter"
_SEQUENCE_PARALLEL_BACKENDS = frozenset({
    "allgather_reducescatter", "deepep_high_throughput", "deepep_low_latency", "deepep_v2",
    "flashinfer_nvlink_one_sided", "passthrough", "mori_high_throughput", "mori_low_latency", "nixl_ep",
})
# Architectures whose shared experts vLLM builds with disable_tp=is_sequence_parallel (DeepseekV2MoE's
# shared_experts in deepseek_v2.py, Llama4MoE's shared_expert in llama4.py); Qwen2/3-MoE keep them TP-split.
_SP_REPLICATED_SHARED = frozenset({"deepseek_v2", "deepseek_v3", "kimi_k2", "llama4_text"})


def _passthrough(args: EngineArgs, *names: str) -> str | None:
    """The last value of a passthrough flag (any of `names`), None when absent."""
    found: str | None = None
    for k, v in args.passthrough:
        if k in names:
            found = v if v is not None else ""
    return found


def _switch(args: EngineArgs, name: str) -> bool:
    value = _passthrough(args, name)
    return value is not None and value.lower() not in ("false", "0")


def redundant_experts(args: EngineArgs) -> int:
    """`--eplb-config '{"num_redundant_experts": N}'` (or the dotted `--eplb-config.num_redundant_experts N`)."""
    n = 0
    raw = _passthrough(args, "--eplb-config")
    if raw:
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("num_redundant_experts"), int):
            n = doc["num_redundant_experts"]
    dotted = _passthrough(args, "--eplb-config.num_redundant_experts")
    if dotted and dotted.strip().isdigit():
        n = int(dotted)
    return max(0, n)


@dataclass(frozen=True)
class Layout:
    """How one `vllm serve` spreads the model: TP x PP ranks per engine, DP engines, EP for the MoE layers."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    dp_local: int | None = None      # --data-parallel-size-local (None: all DP engines on this node)
    ep: bool = False                 # --enable-expert-parallel, on a MoE model
    redundant_experts: int = 0       # EPLB's num_redundant_experts
    eplb: bool = False
    all2all: str = DEFAULT_ALL2ALL
    nnodes: int | None = None        # --nnodes, when given

    @property
    def world(self) -> int:
        """Ranks of one engine (vLLM's world_size): TP x PP."""
        return self.tp * self.pp

    @property
    def gpus(self) -> int:
        """GPUs of the whole `vllm serve` (world_size_across_dp): TP x PP x DP."""
        return self.world * self.dp

    @property
    def moe_group(self) -> int:
        """Ranks one MoE layer is sharded over: TP x DP (flatten_tp_across_dp_and_pcp)."""
        return self.tp * self.dp

    @property
    def use_ep(self) -> bool:
        return self.ep and self.moe_group > 1

    @property
    def ep_size(self) -> int:
        return self.moe_group if self.use_ep else 1

    @property
    def moe_tp(self) -> int:
        """The MoE's tensor-parallel split of each expert: 1 with EP, TP x DP without."""
        return 1 if self.use_ep else self.moe_group

    @property
    def sequence_parallel_moe(self) -> bool:
        return self.use_ep and self.tp > 1 and self.dp > 1 and self.all2all in _SEQUENCE_PARALLEL_BACKENDS

    def physical_experts(self, spec: ModelSpec) -> int:
        return spec.num_experts + (self.redundant_experts if self.use_ep else 0)

    def experts_on_rank(self, spec: ModelSpec, rank: int = 0) -> int:
        """Experts one rank of the EP group holds (determine_expert_map: the first E % EP ranks hold one more)."""
        e = self.physical_experts(spec)
        if not self.use_ep:
            return e
        base, rem = divmod(e, self.ep_size)
        return base + (1 if rank < rem else 0)

    def max_experts_per_rank(self, spec: ModelSpec) -> int:
        return self.experts_on_rank(spec, 0)

    def shared_expert_tp(self, spec: ModelSpec) -> int:
        if self.sequence_parallel_moe and spec.model_type in _SP_REPLICATED_SHARED:
            return 1
        return self.tp

    @property
    def engines_per_node(self) -> int:
        return self.dp_local if self.dp_local is not None else self.dp

    def nodes(self, gpus_per_node: int) -> int:
        """Nodes the serve spans: --nnodes when given, DP / DP-local for data parallel across nodes, else the
        GPUs over the node size."""
        if self.nnodes:
            return self.nnodes
        if self.dp_local and self.dp_local < self.dp and self.dp % self.dp_local == 0:
            return self.dp // self.dp_local
        return max(1, math.ceil(self.gpus / max(1, gpus_per_node)))

    def to_json(self, spec: ModelSpec, gpus_per_node: int) -> dict[str, object]:
        return {
            "tensor_parallel_size": self.tp,
            "pipeline_parallel_size": self.pp,
            "data_parallel_size": self.dp,
            "data_parallel_size_local": self.engines_per_node,
            "expert_parallel": self.use_ep,
            "expert_parallel_size": self.ep_size,
            "experts_per_rank": self.max_experts_per_rank(spec) if spec.is_moe else 0,
            "moe_tensor_parallel_size": self.moe_tp if spec.is_moe else None,
            "engines": self.dp,
            "gpus": self.gpus,
            "nodes": self.nodes(gpus_per_node),
        }


def layout_of(args: EngineArgs, spec: ModelSpec) -> Layout:
    """The layout vLLM builds from these engine arguments for this model (EP only for MoE models)."""
    backend = _passthrough(args, "--all2all-backend") or DEFAULT_ALL2ALL
    nnodes_raw = _passthrough(args, "--nnodes", "-n")
    nnodes = int(nnodes_raw) if nnodes_raw and nnodes_raw.strip().isdigit() and int(nnodes_raw) > 0 else None
    return Layout(tp=args.tensor_parallel_size, pp=args.pipeline_parallel_size, dp=args.data_parallel_size,
                  dp_local=args.data_parallel_size_local, ep=args.enable_expert_parallel and spec.is_moe,
                  redundant_experts=redundant_experts(args), eplb=_switch(args, "--enable-eplb"),
                  all2all=backend, nnodes=nnodes)


# ----------------------------------------------------------------------------------------------------------
# startup checks


def config_errors(layout: Layout, args: EngineArgs, spec: ModelSpec) -> list[Finding]:
    """What ParallelConfig and EngineArgs.create_engine_config refuse about the parallel sizes."""
    out: list[Finding] = []
    if layout.dp_local is not None and layout.dp_local > layout.dp:
        out.append(Finding("data_parallel_local", f"data_parallel_size_local ({layout.dp_local}) must be <= "
                           f"data_parallel_size ({layout.dp})"))
    if layout.eplb:
        if not args.enable_expert_parallel:
            out.append(Finding("eplb_needs_ep", "enable_expert_parallel must be True to use EPLB."))
        elif layout.tp * layout.dp <= 1:
            out.append(Finding("eplb_needs_ep", "EPLB requires tensor, prefill-context, or data parallelism, "
                               f"but got TP={layout.tp}, PCP=1, DP={layout.dp}."))
        elif spec.is_moe and layout.physical_experts(spec) % layout.ep_size:
            out.append(Finding("experts_not_divisible", "EPLB currently only supports even distribution of "
                               f"experts across ranks. Got {layout.physical_experts(spec)} experts and "
                               f"{layout.ep_size} EP ranks."))
    elif layout.redundant_experts:
        out.append(Finding("eplb_needs_ep", f"num_redundant_experts is set to {layout.redundant_experts} but EPLB "
                           "is not enabled. Either enable EPLB or unset num_redundant_experts."))
    if layout.nnodes and layout.nnodes > 1 and layout.gpus % layout.nnodes:
        out.append(Finding("nnodes_not_divisible", f"Invalid data-parallel launch options: `--nnodes "
                           f"{layout.nnodes}` must evenly divide the total world size ({layout.gpus}). Adjust "
                           "`--nnodes`, `--data-parallel-size`, `--pipeline-parallel-size`, "
                           "`--tensor-parallel-size`, or `--prefill-context-parallel-size`."))
    if spec.is_moe and spec.moe_intermediate_size % layout.moe_tp:
        # FusedMoEConfig.__post_init__ asserts intermediate_size % tp_size == 0 (tp = TP x DP without EP).
        what = f"tensor x data parallel size ({layout.moe_tp})" if layout.dp > 1 else \
            f"tensor parallel size ({layout.moe_tp})"
        out.append(Finding("intermediate_not_divisible", f"moe_intermediate_size ({spec.moe_intermediate_size}) "
                           f"is not divisible by {what}: the MoE layers split every expert over it"
                           + (" (--enable-expert-parallel keeps experts whole)" if not layout.ep else "") + "."))
    return out


def _block_findings_linear(name: str, *, tp: int, input_size: int, input_per_partition: int, output_size: int,
                           output_partitions: list[int], block: tuple[int, int]) -> Finding | None:
    """validate_fp8_block_shape for one linear layer (fp8_utils.py)."""
    block_n, block_k = block
    if tp > 1 and input_size // max(1, input_per_partition) == tp and input_per_partition % block_k:
        return Finding("fp8_block_not_divisible", f"Weight input_size_per_partition = {input_per_partition} is "
                       f"not divisible by weight quantization block_k = {block_k}. ({name} at tensor parallel "
                       f"size {tp})")
    is_tp_split = tp > 1 and output_size // max(1, sum(output_partitions)) == tp
    merged = len(output_partitions) > 1
    if is_tp_split or merged:
        sizes = output_partitions if is_tp_split else output_partitions[:-1]
        for size in sizes:
            if size % block_n:
                return Finding("fp8_block_not_divisible", f"Weight output_partition_size = {size} is not "
                               f"divisible by weight quantization block_n = {block_n}. ({name} at tensor "
                               f"parallel size {tp})")
    return None


def _column(name: str, tp: int, parts: list[int], block: tuple[int, int], k: int,
            out: list[Finding]) -> None:
    per = [max(1, p // tp) for p in parts]
    f = _block_findings_linear(name, tp=tp, input_size=k, input_per_partition=k, output_size=sum(parts),
                               output_partitions=per, block=block)
    if f:
        out.append(f)


def _row(name: str, tp: int, k: int, n: int, block: tuple[int, int], out: list[Finding]) -> None:
    f = _block_findings_linear(name, tp=tp, input_size=k, input_per_partition=k // tp, output_size=n,
                               output_partitions=[n], block=block)
    if f:
        out.append(f)


def fp8_block_errors(spec: ModelSpec, scheme: QuantScheme, layout: Layout) -> list[Finding]:
    """The first fp8 block-shape failure vLLM raises while building the model at this layout, if any.

    Layers in construction order: per decoder layer the attention projections, then the MLP or the MoE
    (fused experts, then the shared experts); a layer the checkpoint leaves unquantized is not checked.
    """
    if scheme.kind != "fp8" or scheme.scale != "block" or scheme.experts_only:
        return []
    block = scheme.block
    tp = layout.tp
    h = spec.hidden_size
    out: list[Finding] = []

    quantized: dict[str, bool] = {}

    def q(module: str) -> bool:
        return quantized[module]

    modules = ("self_attn.fused_qkv_a_proj", "self_attn.q_b_proj", "self_attn.q_proj", "self_attn.kv_b_proj",
               "self_attn.o_proj", "self_attn.qkv_proj", "mlp.experts", "mlp.shared_expert", "mlp.gate_up_proj",
               "mlp.up_proj", "mlp.down_proj")
    seen: set[tuple[str, bool, tuple[bool, ...]]] = set()
    for li, layer in enumerate(spec.layers):
        # The checks depend on the kind of layer and on which of its linears are quantized: the first layer of
        # each, in construction order.
        sig = tuple(not scheme.skips(m, li) for m in modules)
        kind = (layer.attention, layer.moe, sig)
        if kind in seen:
            continue
        seen.add(kind)
        quantized = dict(zip(modules, sig, strict=True))
        if layer.attention == "mla":
            nope, rope, v = spec.qk_nope_head_dim, spec.qk_rope_head_dim, spec.v_head_dim
            heads = spec.num_heads
            if spec.q_lora_rank:
                if q("self_attn.fused_qkv_a_proj"):
                    # MergedColumnParallelLinear with disable_tp: only the merged-shard check.
                    _column("fused_qkv_a_proj", 1, [spec.q_lora_rank, spec.kv_lora_rank + rope], block, h, out)
                if q("self_attn.q_b_proj"):
                    _column("q_b_proj", tp, [heads * (nope + rope)], block, spec.q_lora_rank, out)
            elif q("self_attn.q_proj"):
                _column("q_proj", tp, [heads * (nope + rope)], block, h, out)
            if q("self_attn.kv_b_proj"):
                _column("kv_b_proj", tp, [heads * (nope + v)], block, spec.kv_lora_rank, out)
            if q("self_attn.o_proj"):
                _row("o_proj", tp, heads * v, h, block, out)
        elif layer.attention not in ("linear", "none"):
            if q("self_attn.qkv_proj"):
                hd = spec.head_dim
                kv_r = max(1, spec.num_kv_heads // tp)
                per = [spec.num_heads // tp * hd, kv_r * hd, kv_r * hd]
                total = (spec.num_heads + 2 * spec.num_kv_heads) * hd
                f = _block_findings_linear("qkv_proj", tp=tp, input_size=h, input_per_partition=h,
                                           output_size=total, output_partitions=per, block=block)
                if f:
                    out.append(f)
            if q("self_attn.o_proj"):
                _row("o_proj", tp, spec.num_heads * spec.v_head_dim, h, block, out)
        if out:
            return out[:1]
        if layer.moe and spec.is_moe:
            if q("mlp.experts"):
                inter = spec.moe_intermediate_size // layout.moe_tp
                block_n, block_k = block
                if inter % block_n:
                    out.append(Finding("fp8_block_not_divisible", f"The output_size of gate's and up's weight = "
                                       f"{inter} is not divisible by weight quantization block_n = {block_n}."))
                elif tp > 1 and inter % block_k:
                    out.append(Finding("fp8_block_not_divisible", f"The input_size of down's weight = {inter} is "
                                       f"not divisible by weight quantization block_k = {block_k}."))
            if not out and spec.shared_expert_intermediate_size and q("mlp.shared_expert"):
                stp = layout.shared_expert_tp(spec)
                si = spec.shared_expert_intermediate_size
                _column("shared_experts.gate_up_proj", stp, [si, si], block, h, out)
                if not out:
                    _row("shared_experts.down_proj", stp, si, h, block, out)
        elif spec.intermediate_size:
            inter = spec.intermediate_size
            if q("mlp.gate_up_proj") and spec.mlp_gated:
                _column("gate_up_proj", tp, [inter, inter], block, h, out)
            elif q("mlp.up_proj") and not spec.mlp_gated:
                _column("up_proj", tp, [inter], block, h, out)
            if not out and q("mlp.down_proj"):
                _row("down_proj", tp, inter, h, block, out)
        if out:
            return out[:1]
    return out[:1]


def startup_errors(spec: ModelSpec, scheme: QuantScheme, layout: Layout, args: EngineArgs) -> list[Finding]:
    """Every parallel-layout refusal of vLLM this module models, in the order vLLM meets them."""
    return [*config_errors(layout, args, spec), *fp8_block_errors(spec, scheme, layout)]


def moe_profile_tokens(layout: Layout, num_tokens: int) -> int:
    """Tokens the MoE layers see in the profile run: the naive dispatch gathers every DP rank's batch."""
    return num_tokens * layout.dp if layout.dp > 1 else num_tokens
