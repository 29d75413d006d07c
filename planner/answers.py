"""The JSON answers of every command, as types: what `--json` (and `check --format json`) prints.

TypedDicts, so the commands build plain dicts (no pydantic on the fast paths: tests/test_imports.py) that
mypy checks key by key. planner/contract.py derives its pydantic models and the JSON Schema
(docs/schema.json) from these types, so the contract has one definition. `Describe(...)` in an
`Annotated` field is the description the schema carries. SCHEMA_VERSION (planner.errors) versions all
of them; a change of shape here that is not additive raises it. This module imports nothing of the
project, so that any module may name these types.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations
# (__required_keys__), and planner.contract reads the types at run time.
from typing import Annotated, Any, NotRequired, TypedDict

__all__ = ["CheckAnswer", "Describe", "ErrorAnswer", "EstimateAnswer", "PerfAnswer",
           "PlanAnswer", "ValidateAnswer"]


class Describe(str):
    """The description of a field in the exported schema (Annotated metadata; pydantic never sees it here)."""


class FindingJson(TypedDict):
    code: str
    message: str


class GpuJson(TypedDict):
    id: str
    name: str
    total_gib: float
    compute_capability: Annotated[str, Describe('"9.0"; "" for the CPU backend')]
    count: Annotated[int, Describe("GPUs of one replica: tensor x pipeline parallel size")]


class VllmJson(TypedDict):
    version: str
    engine: Annotated[str, Describe("v0 or v1")]
    args: Annotated[dict[str, Any], Describe("the resolved engine arguments (vLLM's dest names)")]
    given: Annotated[list[str], Describe("the arguments the user set")]


class QuantizationJson(TypedDict):
    scheme: str
    method: str | None
    weights_source: Annotated[str, Describe("config or safetensors")]


class PerGpuJson(TypedDict):
    total_gib: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    kv_cache_gib: Annotated[float, Describe('vLLM\'s "Available KV cache memory" (negative: it would fail)')]


class KvCacheJson(TypedDict):
    tokens: Annotated[int, Describe('"GPU KV cache size" in tokens')]
    num_blocks: int
    block_size: int
    bytes_per_token: int
    max_concurrency: Annotated[float, Describe('"Maximum concurrency" for max_model_len-token requests')]
    bytes_per_block: int
    blocks_per_request: int
    groups: int
    padding_layers: int


class EstimateAnswer(TypedDict):
    """`planner estimate --json`: what vLLM would do at startup, in the figures it logs."""

    schema_version: int
    fits: bool
    model: dict[str, Any]
    gpu: GpuJson
    vllm: VllmJson
    quantization: QuantizationJson
    per_gpu: PerGpuJson
    kv_cache: KvCacheJson
    pipeline_stages: list[PerGpuJson]
    tightest_stage: int
    errors: list[FindingJson]
    warnings: list[FindingJson]


class DecisionJson(TypedDict):
    flag: str
    value: str
    why: str


class PlanRowJson(TypedDict):
    rank: int
    gpu: str
    count: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int
    quantization: str
    model: str
    kv_cache_dtype: str
    max_model_len: int
    full_context: bool
    max_num_seqs: int | None
    gpu_memory_utilization: float | None
    enforce_eager: bool
    kv_tokens: int
    max_concurrency: float
    headroom: float
    cost_per_hour_usd: float | None
    native_quantization: bool


class ClosestMissJson(TypedDict):
    gpu: str
    count: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    quantization: str
    shortfall_gib_per_gpu: float | None


class PlanSectionJson(TypedDict):
    objective: str
    model: str | None
    chosen: int | None
    decisions: list[DecisionJson]
    estimates: int
    notes: list[str]
    suggestions: list[Any]
    closest_miss: NotRequired[ClosestMissJson]


class PlanAnswer(TypedDict):
    """`planner plan --json`: the chosen plan's (or the closest miss's) estimate, plus the plans."""

    schema_version: int
    fits: bool
    model: NotRequired[dict[str, Any]]
    gpu: NotRequired[GpuJson]
    vllm: NotRequired[VllmJson]
    quantization: NotRequired[QuantizationJson]
    per_gpu: NotRequired[PerGpuJson]
    kv_cache: NotRequired[KvCacheJson]
    pipeline_stages: NotRequired[list[PerGpuJson]]
    tightest_stage: NotRequired[int]
    errors: NotRequired[list[FindingJson]]
    warnings: list[FindingJson]
    plan: PlanSectionJson
    plans: list[PlanRowJson]
    commands: dict[str, str]
    written: NotRequired[list[str]]


class CheckFindingJson(TypedDict):
    file: str
    line: int
    rule: str
    severity: str
    message: str
    hint: str | None
    where: str | None


class CheckInvocationJson(TypedDict):
    line: int
    where: str | None
    model: str | None
    vllm_version: str | None
    gpu: str | None
    gpu_count: int | None
    parse_error: str | None
    memory: dict[str, Any] | None


class CheckFileJson(TypedDict):
    path: str
    kind: str | None
    status: Annotated[str, Describe("checked, skipped or unreadable")]
    reason: str | None
    invocations: list[CheckInvocationJson]
    findings: list[CheckFindingJson]


class CheckSummaryJson(TypedDict):
    files: int
    invocations: int
    errors: int
    warnings: int
    unreadable: int


class CheckAnswer(TypedDict):
    """`planner check --format json`."""

    schema_version: int
    exit_code: int
    strict: bool
    summary: CheckSummaryJson
    files: list[CheckFileJson]


class ValidateAnswer(TypedDict):
    """`planner validate --json`: the prediction, what vLLM reported, and the comparison."""

    schema_version: int
    predicted: Annotated[dict[str, Any], Describe("an EstimateAnswer, with the CPU backend's pre-launch findings")]
    observed: dict[str, Any]
    comparisons: list[dict[str, Any]]
    verdict: dict[str, Any]
    requests: dict[str, Any]
    vllm_version: str
    command: list[str] | None
    log_path: str | None
    launched: bool
    not_launched_reason: str | None
    exit_code: int


class PerfPointJson(TypedDict):
    benchmark: Annotated[dict[str, Any] | None,
                         Describe("vLLM's --save-result keys; null when the estimate would fail")]
    bounds: dict[str, Any] | None
    workload: dict[str, Any]


class PerfAnswer(TypedDict):
    """`planner perf --json`: one predicted benchmark (`benchmark`, `bounds`, `workload`; vLLM's
    --save-result keys) or a sweep (`sweep`, `points`), with the estimate it ran on."""

    schema_version: int
    benchmark: NotRequired[Annotated[dict[str, Any] | None,
                                     Describe("vLLM's --save-result keys; null when the estimate would fail")]]
    bounds: NotRequired[dict[str, Any] | None]
    workload: NotRequired[dict[str, Any]]
    sweep: NotRequired[dict[str, Any]]
    points: NotRequired[list[PerfPointJson]]
    estimate: EstimateAnswer


class ErrorBodyJson(TypedDict):
    code: str
    message: str
    hint: NotRequired[str]


class ErrorAnswer(TypedDict):
    """What any command prints on stdout under --json when the input is bad (exit 2)."""

    schema_version: int
    error: ErrorBodyJson


# command -> its answer type (planner.contract exports the schema of each).
ANSWER_TYPES: dict[str, type] = {
    "estimate": EstimateAnswer, "plan": PlanAnswer, "perf": PerfAnswer, "check": CheckAnswer,
    "validate": ValidateAnswer, "error": ErrorAnswer,
}
