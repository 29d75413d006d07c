"""KV cache: per-layer specs, vLLM's layer groups, page and block sizes, and the figures vLLM logs.

Follows vllm/v1/kv_cache_interface.py (page sizes, max_memory_usage_bytes), vllm/v1/core/
kv_cache_planning.py (grouping, bytes per block, the startup check and auto-fit) and
vllm/v1/core/kv_cache_utils.py (the "GPU KV cache size" and "Maximum concurrency" lines); see
shared/reference/vllm-memory.md §2-3 and §8 for the per-version differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from planner.memory.spec import ModelSpec


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class KvGroup:
    """One KV cache group: `layers` layers (padding included) of one spec share each block id."""

    kind: str                 # full | sliding | chunked | mla
    window: int | None
    layers: int
    page_bytes: int           # bytes of one layer's page (block_size tokens)
    block_size: int


@dataclass(frozen=True)
class KvLayout:
    """How one stage's KV cache is laid out: its groups of layers, block size and bytes per token."""

    groups: tuple[KvGroup, ...]
    block_size: int
    bytes_per_token: int      # summed over the stage's attention layers (what one token costs)
    padding_layers: int = 0

    @property
    def bytes_per_block(self) -> int:
        # _get_kv_cache_bytes_per_block: max over groups of the group's layers x page.
        return max((g.layers * g.page_bytes for g in self.groups), default=0)


def kv_element_bytes(kv_cache_dtype: str, model_dtype_bytes: int) -> float:
    if kv_cache_dtype in ("auto", "bfloat16", "float16"):
        return 2 if kv_cache_dtype != "auto" else model_dtype_bytes
    if kv_cache_dtype.startswith("fp8") or kv_cache_dtype == "int8_per_token_head":
        return 1
    if kv_cache_dtype in ("int4_per_token_head", "nvfp4"):
        return 0.5
    return model_dtype_bytes


def bytes_per_token_layer(spec: ModelSpec, kind: str, *, tp: int, kv_cache_dtype: str, act_bytes: int) -> int:
    """Bytes one token costs in one layer on one TP rank."""
    if kind == "mla":
        # One latent (kv_lora_rank + qk_rope_head_dim) per token, replicated on every TP rank.
        if kv_cache_dtype == "fp8_ds_mla":
            return 656
        width = spec.kv_lora_rank + spec.qk_rope_head_dim
        return int(width * kv_element_bytes(kv_cache_dtype, act_bytes))
    kv_heads = max(1, spec.num_kv_heads // tp)  # replicated when TP > kv heads (get_num_kv_heads)
    hs_k, hs_v = spec.head_dim, spec.v_head_dim
    if kv_cache_dtype in ("int8_per_token_head", "fp8_per_token_head"):
        return kv_heads * ((hs_k + hs_v) + 2 * 4)
    if kv_cache_dtype == "int4_per_token_head":
        return kv_heads * ((hs_k + hs_v) // 2 + 2 * 4)
    if kv_cache_dtype == "nvfp4":
        return 2 * kv_heads * (hs_k // 2 + hs_k // 16)
    return int(kv_heads * (hs_k + hs_v) * kv_element_bytes(kv_cache_dtype, act_bytes))


def default_block_size(spec: ModelSpec, cc: tuple[int, int], *, engine: str, mla_sm100_block_32: bool) -> int:
    """The block size vLLM picks on CUDA when --block-size is not given (vllm-memory.md §2.5); the CPU
    platform picks its own (planner/memory/cpu_backend.py cpu_block_size)."""
    if spec.is_mla:
        # (V0 builds logged 16-token blocks for MLA on Hopper too: vllm-runs c065, 0.7.3 on H200.)
        if cc[0] >= 10 and mla_sm100_block_32:
            return 32                      # FLASHINFER_MLA, first MLA choice on SM100 (VersionRules)
    return 16


@lru_cache(maxsize=4096)
def kv_layout(spec: ModelSpec, layer_indices: range, *, tp: int, kv_cache_dtype: str, act_bytes: int,
              block_size: int, hybrid: bool,
              extra: tuple[tuple[str, int | None, int], ...] = ()) -> KvLayout:
    """Group one PP stage's attention layers the way get_kv_cache_groups does.

    `hybrid` is the hybrid KV cache manager: when off (V0, --disable-hybrid-kv-cache-manager, Llama-4
    chunked attention by default), sliding/chunked layers are allocated as full attention.
    `extra`: more attention layers in the same pool, as (kind, window, bytes per token): a speculative
    drafter's (planner/memory/spec_decode.py). Layers of one type whose pages differ (a draft model with other
    heads) form one UniformTypeKVCacheSpecs group whose page is the sum of theirs
    (kv_cache_planning.get_kv_cache_groups, 0.33); in a hybrid model they join their type's bucket at the
    largest page (an approximation: vLLM unifies the page sizes).
    """
    buckets: dict[tuple[str, int | None], int] = {}      # layers per (kind, window), in first-seen order
    page_by_kind: dict[tuple[str, int | None], int] = {}
    pages: set[int] = set()
    per_token = 0
    bytes_by_kind: dict[str, int] = {}

    def count(kind: str, window: int | None, b: int, n: int = 1) -> None:
        nonlocal per_token
        key = (kind, window)
        per_token += b * n
        buckets[key] = buckets.get(key, 0) + n
        pages.add(b * block_size)
        if b * block_size > page_by_kind.get(key, 0):
            page_by_kind[key] = b * block_size

    run: dict[tuple[str, int | None], int] = {}
    for i in layer_indices:
        layer = spec.layers[i]
        kind = layer.attention
        if kind in ("linear", "none"):
            continue
        window = layer.window
        if not hybrid and kind in ("sliding", "chunked"):
            kind, window = "full", None
        run[(kind, window)] = run.get((kind, window), 0) + 1
    for (kind, window), n in run.items():
        b = bytes_by_kind.get(kind)
        if b is None:
            b = bytes_by_kind[kind] = bytes_per_token_layer(spec, kind, tp=tp, kv_cache_dtype=kv_cache_dtype,
                                                            act_bytes=act_bytes)
        count(kind, window, b, n)
    for kind, window, b in extra:
        if not hybrid and kind in ("sliding", "chunked"):
            kind, window = "full", None
        count(kind, window, b)
    if not buckets:
        return KvLayout(groups=(), block_size=block_size, bytes_per_token=0)
    if len(buckets) == 1:
        (k, n), = buckets.items()
        if len(pages) > 1:
            # One attention type, several page sizes: one group, every layer's page in each block.
            return KvLayout(groups=(KvGroup(k[0], k[1], 1, per_token * block_size, block_size),), block_size=block_size,
                            bytes_per_token=per_token)
        return KvLayout(groups=(KvGroup(k[0], k[1], n, page_by_kind[k], block_size),), block_size=block_size,
                        bytes_per_token=per_token)
    # Mixed specs with one page size: _get_kv_cache_groups_uniform_page_size.
    counts = list(buckets.values())
    lo, hi = min(counts), max(counts)
    group_size = hi if hi < 1.5 * lo else lo
    groups: list[KvGroup] = []
    padding = 0
    page = max(page_by_kind.values())  # pages are padded to the largest (unify_kv_cache_spec_page_size)
    for k, n in buckets.items():
        ng = cdiv(n, group_size)
        padding += ng * group_size - n
        groups.extend(KvGroup(k[0], k[1], group_size, page, block_size) for _ in range(ng))
    return KvLayout(groups=tuple(groups), block_size=block_size, bytes_per_token=per_token,
                    padding_layers=padding)


def blocks_per_request(group: KvGroup, max_model_len: int, *, in_flight_tokens: int, legacy_swa: bool,
                       mnbt: int) -> int:
    """Blocks one request of max_model_len holds in `group` (max_memory_usage_bytes / page)."""
    bs = group.block_size
    if group.kind == "sliding" and group.window:
        # 0.10-0.20: window - 1 + mnbt; 0.21+: window - 1 + max_in_flight_tokens (async: 2 x mnbt).
        extra = mnbt if legacy_swa else in_flight_tokens
        return cdiv(min(group.window - 1 + extra, max_model_len), bs) + 1
    if group.kind == "chunked" and group.window:
        extra = mnbt if legacy_swa else in_flight_tokens
        return cdiv(min(group.window + extra, max_model_len), bs)
    return cdiv(max_model_len, bs)


def request_blocks(layout: KvLayout, max_model_len: int, *, in_flight_tokens: int, legacy_swa: bool,
                   mnbt: int) -> int:
    return sum(blocks_per_request(g, max_model_len, in_flight_tokens=in_flight_tokens, legacy_swa=legacy_swa,
                                  mnbt=mnbt) for g in layout.groups)


def largest_fitting_len(layout: KvLayout, budget_bytes: int, max_model_len: int, *, in_flight_tokens: int,
                        legacy_swa: bool, mnbt: int) -> int:
    """Binary search of the largest length whose one request fits in budget_bytes (vLLM's estimate)."""
    bpb = layout.bytes_per_block
    if bpb <= 0:
        return max_model_len

    def need(n: int) -> int:
        return bpb * request_blocks(layout, n, in_flight_tokens=in_flight_tokens, legacy_swa=legacy_swa,
                                    mnbt=mnbt)

    lo, hi = 0, max_model_len
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if need(mid) <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo
