"""The JSON answers of every command, as types: what `--json` (and `check --format json`) prints.

TypedDicts, so the commands build plain dicts (no pydantic on the fast paths: tests/test_imports.py) that
mypy checks key by key. planner/contract.py holds the pydantic models the Python API returns and the
JSON Schema (docs/schema.json) is exported from; `contract.mismatches()` checks each model against its
type here (same keys; every answer a type allows, the model accepts; tests/test_contract.py), so the two
cannot drift. SCHEMA_VERSION (planner.errors) versions all of them; a change of shape that is not
additive raises it. This module imports nothing of the project, so that any module may name these types.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations
# (__required_keys__), and planner.contract reads the types at run time.
from typing import Any, NotRequired

# typing_extensions (typer and pydantic depend on it): pydantic reads TypedDicts from it on Python < 3.12.
from typing_extensions import TypedDict

__all__ = ["CheckAnswer", "CostAnswer", "ErrorAnswer", "EstimateAnswer", "PerfAnswer", "PlanAnswer",
           "ValidateAnswer"]


class FindingJson(TypedDict):
    code: str
    message: str


class GpuJson(TypedDict):
    id: str
    name: str
    total_gib: float
    compute_capability: str
    count: int


class VllmJson(TypedDict):
    version: str
    engine: str
    args: dict[str, Any]
    given: list[str]


class QuantizationJson(TypedDict):
    scheme: str
    method: str | None
    weights_source: str


class PerGpuJson(TypedDict):
    total_gib: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    kv_cache_gib: float


class KvCacheJson(TypedDict):
    tokens: int
    num_blocks: int
    block_size: int
    bytes_per_token: int
    max_concurrency: float
    bytes_per_block: int
    blocks_per_request: int
    groups: int
    padding_layers: int


class ParallelJson(TypedDict):
    """Data / expert parallelism of the serve: the figures of per_gpu and kv_cache are one DP engine's."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int
    data_parallel_size_local: int
    expert_parallel: bool
    expert_parallel_size: int
    experts_per_rank: int
    moe_tensor_parallel_size: int | None
    engines: int
    gpus: int
    nodes: int
    kv_tokens_per_engine: int
    kv_tokens_total: int
    max_concurrency_total: float


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
    parallel: NotRequired[ParallelJson]


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
    expert_parallel: bool
    nodes: int
    gpus_per_node: int
    quantization: str
    model: str
    kv_cache_dtype: str
    max_model_len: int
    full_context: bool
    max_num_seqs: int | None
    gpu_memory_utilization: float | None
    enforce_eager: bool
    kv_tokens: int
    kv_tokens_total: int
    max_concurrency: float
    headroom: float
    cost_per_hour_usd: float | None
    native_quantization: bool
    capacity: NotRequired[dict[str, Any]]     # with --request-rate: the replicas this plan needs


class ClosestMissJson(TypedDict):
    gpu: str
    count: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int
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
    load: NotRequired[dict[str, Any]]         # with --request-rate: the load sized for


class OpsSloJson(TypedDict):
    percentile: float
    ttft_ms: float
    itl_ms: float


class OpsJson(TypedDict):
    """The numbers of the operations forms (planner/emit/ops.py OpsTargets.to_json; docs/operations.md)."""

    name: str
    namespace: str
    served_model_name: str
    replicas: int | None
    min_replicas: int
    max_replicas: int
    queue_depth_target: float
    queue_metric: str
    scale_down_stabilization_s: int
    slo: OpsSloJson
    kv_usage_alert: float
    fallback_model: str | None
    request_rate: float | None
    peak_to_average: float | None
    per_replica_rate: float | None
    notes: list[str]


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
    parallel: NotRequired[ParallelJson]
    plan: PlanSectionJson
    plans: list[PlanRowJson]
    commands: dict[str, str]
    ops: NotRequired[OpsJson]                 # when a plan fits
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
    status: str
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
    predicted: dict[str, Any]
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


class BenchmarkJson(TypedDict):
    """The keys `vllm bench serve --save-result` writes for a run, as `planner perf` predicts them."""

    completed: int
    failed: NotRequired[int]
    duration: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    max_concurrent_requests: int
    max_output_tokens_per_s: NotRequired[float | None]
    mean_ttft_ms: float
    median_ttft_ms: float
    std_ttft_ms: float
    p95_ttft_ms: float
    p99_ttft_ms: float
    mean_tpot_ms: float
    median_tpot_ms: float
    std_tpot_ms: float
    p95_tpot_ms: float
    p99_tpot_ms: float
    mean_itl_ms: float
    median_itl_ms: float
    std_itl_ms: float
    p95_itl_ms: float
    p99_itl_ms: float
    mean_e2el_ms: float
    median_e2el_ms: float
    std_e2el_ms: float
    p95_e2el_ms: float
    p99_e2el_ms: float


class PerfPointJson(TypedDict):
    benchmark: BenchmarkJson
    bounds: dict[str, Any]
    workload: dict[str, Any]


class PerfAnswer(TypedDict):
    """`planner perf --json`: one benchmark (or, with --sweep, one point per value) and the estimate."""

    schema_version: int
    benchmark: NotRequired[BenchmarkJson | None]    # null when vLLM would not start
    bounds: NotRequired[dict[str, Any] | None]
    workload: NotRequired[dict[str, Any] | None]
    sweep: NotRequired[dict[str, Any]]
    points: NotRequired[list[PerfPointJson]]
    estimate: EstimateAnswer
    error: NotRequired[dict[str, Any] | None]


class CostVolumeJson(TypedDict):
    requests_per_month: int
    replicas: int
    gpus: int
    self_hosted_monthly_usd: float
    api_monthly_usd: float
    savings_monthly_usd: float


class CostBlockJson(TypedDict):
    requests_per_month: int
    input_len: int
    output_len: int
    api_monthly_usd: float
    self_hosted_monthly_usd: float
    savings_monthly_usd: float
    api_annual_usd: float
    self_hosted_annual_usd: float
    savings_annual_usd: float
    break_even_requests_per_month: int | None
    replicas: int
    gpus_per_replica: int
    gpus: int
    gpu_hourly_usd: float
    gpu_price_date: str | None
    gpu_price_source: str
    api_input_usd_per_mtok: float
    api_output_usd_per_mtok: float
    api_usd_per_request: float
    api_price_date: str | None
    api_price_source: str
    cost_per_million_output_tokens_usd: float | None
    api_cost_per_million_output_tokens_usd: float | None
    cost_per_million_tokens_usd: float | None
    api_cost_per_million_tokens_usd: float | None
    hours_per_month: float
    fixed_monthly_usd: float
    peak_to_average: float
    average_request_rate: float
    peak_request_rate: float
    per_replica_request_rate: float
    per_replica_rate_source: str
    peak_utilization: float
    volumes: list[CostVolumeJson]


class CostAnswer(TypedDict):
    """`planner cost --json`: self-hosting on vLLM against a hosted API (cost is null when the deployment
    would not start)."""

    schema_version: int
    cost: CostBlockJson | None
    capacity: dict[str, Any] | None
    notes: list[str]
    estimate: NotRequired[EstimateAnswer | None]


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
    "estimate": EstimateAnswer, "plan": PlanAnswer, "perf": PerfAnswer, "cost": CostAnswer,
    "check": CheckAnswer, "validate": ValidateAnswer, "error": ErrorAnswer,
}
