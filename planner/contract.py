"""The JSON contract: pydantic models of every `--json` answer, and their JSON Schema.

One SCHEMA_VERSION (planner.errors, where every command already looks) versions all of them:
`planner estimate --json`, `planner plan --json`, `planner check --format json`,
`planner validate --json` and the error object any command prints under --json.

The commands build their answers as the TypedDicts of planner/answers.py (plain dicts that mypy checks;
the fast paths must not load pydantic: tests/test_imports.py). `mismatches()` checks every model here
against its TypedDict: the same keys, and every answer the type allows is one the model accepts (the
model may be looser: a dict where the type names keys, an optional key the type requires), and extra
keys refused. tests/test_contract.py asserts there are none, validates what each command prints against
these models, and checks that docs/schema.json is what `python -m planner.contract` writes today.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from planner import answers
from planner.errors import SCHEMA_VERSION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FindingDoc(_Strict):
    code: str
    message: str


class GpuDoc(_Strict):
    id: str
    name: str
    total_gib: float
    compute_capability: str = Field(description='"9.0"; "" for the CPU backend')
    count: int = Field(description="GPUs of one replica (one vllm serve, across all its nodes): tensor x pipeline "
                       "x data parallel size")


class VllmDoc(_Strict):
    version: str
    engine: str = Field(description="v0 or v1")
    args: dict[str, Any] = Field(description="the resolved engine arguments (vLLM's dest names)")
    given: list[str] = Field(description="the arguments the user set")


class QuantizationDoc(_Strict):
    scheme: str
    method: str | None
    weights_source: str = Field(description="config or safetensors")


class PerGpuDoc(_Strict):
    total_gib: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    kv_cache_gib: float = Field(description='vLLM\'s "Available KV cache memory" (negative: it would fail)')


class KvCacheDoc(_Strict):
    tokens: int = Field(description='"GPU KV cache size" in tokens')
    num_blocks: int
    block_size: int
    bytes_per_token: int
    max_concurrency: float = Field(description='"Maximum concurrency" for max_model_len-token requests')
    bytes_per_block: int
    blocks_per_request: int
    groups: int
    padding_layers: int


class ParallelDoc(_Strict):
    """Data / expert parallelism of the serve: the figures of per_gpu and kv_cache are one DP engine's."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int
    data_parallel_size_local: int = Field(description="DP engines on one node")
    expert_parallel: bool = Field(description="MoE experts divided over the TP x DP ranks")
    expert_parallel_size: int
    experts_per_rank: int = Field(description="routed experts on the fullest GPU (0: not a MoE model)")
    moe_tensor_parallel_size: int | None = Field(description="the split of every expert (1 under EP)")
    engines: int = Field(description="DP engines, each logging its own KV cache size and concurrency")
    gpus: int = Field(description="tensor x pipeline x data parallel size")
    nodes: int
    kv_tokens_per_engine: int
    kv_tokens_total: int
    max_concurrency_total: float


class EstimateDoc(_Strict):
    """`planner estimate --json`: what vLLM would do at startup, in the figures it logs."""

    schema_version: int = SCHEMA_VERSION
    fits: bool
    model: dict[str, Any]
    gpu: GpuDoc
    vllm: VllmDoc
    quantization: QuantizationDoc
    per_gpu: PerGpuDoc
    kv_cache: KvCacheDoc
    pipeline_stages: list[PerGpuDoc]
    tightest_stage: int
    errors: list[FindingDoc]
    warnings: list[FindingDoc]
    parallel: ParallelDoc | None = None


class PlanSectionDoc(_Strict):
    objective: str
    model: str | None
    chosen: int | None
    decisions: list[dict[str, Any]]
    estimates: int
    notes: list[str]
    suggestions: list[Any]
    closest_miss: dict[str, Any] | None = None
    load: dict[str, Any] | None = Field(default=None, description=(
        "with --request-rate: the load sized for (request_rate req/s on average, peak_to_average, "
        "peak_request_rate, shape, slo); each plan then carries `capacity`"))


class OpsSloDoc(_Strict):
    percentile: float
    ttft_ms: float
    itl_ms: float


class OpsDoc(_Strict):
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
    slo: OpsSloDoc
    kv_usage_alert: float
    fallback_model: str | None
    request_rate: float | None
    peak_to_average: float | None
    per_replica_rate: float | None
    notes: list[str]


class PlanDoc(_Strict):
    """`planner plan --json`: the chosen plan's (or the closest miss's) estimate, plus the plans."""

    schema_version: int = SCHEMA_VERSION
    fits: bool
    model: dict[str, Any] | None = None
    gpu: GpuDoc | None = None
    vllm: VllmDoc | None = None
    quantization: QuantizationDoc | None = None
    per_gpu: PerGpuDoc | None = None
    kv_cache: KvCacheDoc | None = None
    pipeline_stages: list[PerGpuDoc] | None = None
    tightest_stage: int | None = None
    errors: list[FindingDoc] | None = None
    warnings: list[FindingDoc]
    parallel: ParallelDoc | None = None
    plan: PlanSectionDoc
    plans: list[dict[str, Any]]
    commands: dict[str, str]
    ops: OpsDoc | None = None           # when a plan fits
    written: list[str] | None = None


class CheckFindingDoc(_Strict):
    file: str
    line: int
    rule: str
    severity: str
    message: str
    hint: str | None
    where: str | None


class CheckInvocationDoc(_Strict):
    line: int
    where: str | None
    model: str | None
    vllm_version: str | None
    gpu: str | None
    gpu_count: int | None
    parse_error: str | None
    memory: dict[str, Any] | None


class CheckFileDoc(_Strict):
    path: str
    kind: str | None
    status: str = Field(description="checked, skipped or unreadable")
    reason: str | None
    invocations: list[CheckInvocationDoc]
    findings: list[CheckFindingDoc]


class CheckSummaryDoc(_Strict):
    files: int
    invocations: int
    errors: int
    warnings: int
    unreadable: int


class CheckDoc(_Strict):
    """`planner check --format json`."""

    schema_version: int = SCHEMA_VERSION
    exit_code: int
    strict: bool
    summary: CheckSummaryDoc
    files: list[CheckFileDoc]


class ValidateDoc(_Strict):
    """`planner validate --json`: the prediction, what vLLM reported, and the comparison."""

    schema_version: int = SCHEMA_VERSION
    predicted: dict[str, Any] = Field(description="an EstimateDoc, with the CPU backend's pre-launch findings")
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


class BenchmarkDoc(_Strict):
    """The keys `vllm bench serve --save-result` writes for a run, as `planner perf` predicts them."""

    completed: int
    failed: int = 0
    duration: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    max_concurrent_requests: int
    max_output_tokens_per_s: float | None = None
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


class PerfPointDoc(_Strict):
    benchmark: BenchmarkDoc
    bounds: dict[str, Any]
    workload: dict[str, Any]


class PerfDoc(_Strict):
    """`planner perf --json`: one benchmark (or, with --sweep, one point per value) and the estimate."""

    schema_version: int = SCHEMA_VERSION
    benchmark: BenchmarkDoc | None = None
    bounds: dict[str, Any] | None = None
    workload: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    points: list[PerfPointDoc] | None = None
    estimate: dict[str, Any] = Field(description="an EstimateDoc")
    error: dict[str, Any] | None = None


class CostVolumeDoc(_Strict):
    requests_per_month: int
    replicas: int
    gpus: int
    self_hosted_monthly_usd: float
    api_monthly_usd: float
    savings_monthly_usd: float


class CostBlockDoc(_Strict):
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
    volumes: list[CostVolumeDoc]


class CostDoc(_Strict):
    """`planner cost --json`: self-hosting on vLLM against a hosted API (cost is null when the deployment
    would not start)."""

    schema_version: int = SCHEMA_VERSION
    cost: CostBlockDoc | None
    capacity: dict[str, Any] | None
    notes: list[str]
    estimate: dict[str, Any] | None = Field(default=None, description="an EstimateDoc")


class ErrorBodyDoc(_Strict):
    code: str
    message: str
    hint: str | None = None


class ErrorDoc(_Strict):
    """What any command prints on stdout under --json when the input is bad (exit 2)."""

    schema_version: int = SCHEMA_VERSION
    error: ErrorBodyDoc


ANSWERS: dict[str, type[BaseModel]] = {
    "estimate": EstimateDoc, "plan": PlanDoc, "perf": PerfDoc, "cost": CostDoc, "check": CheckDoc,
    "validate": ValidateDoc, "error": ErrorDoc,
}


def _node(node: Any, defs: dict[str, Any]) -> Any:
    """A schema node with $refs resolved and the words that do not constrain (titles, descriptions,
    defaults, additionalProperties) dropped."""
    if isinstance(node, list):
        return [_node(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _node(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return {k: _node(v, defs) for k, v in node.items()
            if k not in ("title", "description", "default", "additionalProperties")}


def _options(node: dict[str, Any]) -> list[dict[str, Any]]:
    return list(node["anyOf"]) if "anyOf" in node else [node]


def _accepts(model: dict[str, Any], typed: dict[str, Any], where: str) -> list[str]:
    """Why the model's schema does not accept every value of the TypedDict's ([] when it does)."""
    if not model or (model.get("type") == "object" and "properties" not in model):
        return []                                   # Any, or a dict[str, Any]: accepts every object
    if "anyOf" in model or "anyOf" in typed:
        out: list[str] = []
        for t in _options(typed):
            if all(_accepts(m, t, where) for m in _options(model)):
                out.append(f"{where}: the model does not accept {json.dumps(t)[:80]}")
        return out
    if model.get("type") == "number" and typed.get("type") == "integer":
        return []
    if model.get("type") == "array" and typed.get("type") == "array":
        return _accepts(model.get("items", {}), typed.get("items", {}), where + "[]")
    if model.get("type") == "object" and typed.get("type") == "object":
        mp, tp = model.get("properties", {}), typed.get("properties", {})
        if set(mp) != set(tp):
            return [f"{where}: keys differ: model only {sorted(set(mp) - set(tp))}, "
                    f"type only {sorted(set(tp) - set(mp))}"]
        out = [f"{where}.{k}: the model requires a key the type may omit"
               for k in sorted(set(model.get("required", ())) - set(typed.get("required", ())))]
        for k in mp:
            out += _accepts(mp[k], tp[k], f"{where}.{k}")
        return out
    return [] if model == typed else [f"{where}: model {json.dumps(model)[:60]} vs type {json.dumps(typed)[:60]}"]


def mismatches() -> list[str]:
    """Where a model of this module and its TypedDict in planner.answers disagree; [] when they agree."""
    from pydantic import TypeAdapter  # noqa: PLC0415 - pydantic only when the contract is checked

    out: list[str] = []
    if set(ANSWERS) != set(answers.ANSWER_TYPES):
        out.append(f"answers: models for {sorted(ANSWERS)}, types for {sorted(answers.ANSWER_TYPES)}")
    for name in sorted(set(ANSWERS) & set(answers.ANSWER_TYPES)):
        ms = ANSWERS[name].model_json_schema()
        ts = TypeAdapter(answers.ANSWER_TYPES[name]).json_schema()
        out += _accepts(_node(ms, ms.get("$defs", {})), _node(ts, ts.get("$defs", {})), name)
    return out


def json_schema() -> dict[str, Any]:
    """One JSON Schema document holding every answer under $defs, keyed by command."""
    from pydantic.json_schema import models_json_schema  # noqa: PLC0415 - pydantic only when the schema is asked for

    _, top = models_json_schema([(m, "validation") for m in ANSWERS.values()],
                                ref_template="#/$defs/{model}", title="vllm-planner JSON answers")
    top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    top["schema_version"] = SCHEMA_VERSION
    top["answers"] = {name: {"$ref": f"#/$defs/{m.__name__}"} for name, m in ANSWERS.items()}
    return top


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
