"""The numbers operations need beside the deployment: autoscaling, alert thresholds, the gateway's fallback.

`OpsTargets` holds them as plain inputs, so the emitters (hpa.py, alerts.py, dashboard.py, gateway.py) are
pure text functions that take no model and run no simulation. `ops_targets(d, load=..., fallback=...)`
builds them for a chosen plan: from the capacity plan's figures when `plan` was given a workload
(`OpsLoad`), else from defaults, each recorded in `notes` and stated in the emitted files' comments.

How each value is set:
* max replicas: the planned replicas at the peak (load x peak-to-average over the per-replica rate).
  Without a workload: Deployment.max_replicas (4), a starting point.
* min replicas: a warm pool for the average load, max(1, ceil(average rate / per-replica rate)). A GPU pod
  started from cold pulls the image and a multi-GB model and captures CUDA graphs before it serves (minutes):
  scaling from zero or one cannot follow the daily ramp, so the pool that serves the average stays up and
  only the peak above it is autoscaled. Without a workload: 1.
* queue depth (the HPA's target for vllm:num_requests_waiting per pod): where the perf model says the TTFT
  target breaks (planner.performance.queue.queue_depth_target), rounded down to a tenth, at least 0.1. Without
  one: Deployment.waiting_per_pod (5): vLLM queues a request only when the batch is full, so a few waiting
  per pod is saturation.
* SLO: the plan's TTFT and TPOT targets at its percentile; the inter-token latency alert uses the TPOT
  target (TPOT is a request's mean inter-token gap). Without targets: the DEFAULT_* values below.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.emit.deployment import Deployment
from planner.emit.shell import API_KEY_ENV, api_key_required
from planner.errors import PlannerError, did_you_mean
from planner.pricing.prices import api_prices
from planner.release.vllm_versions import MetricNames, metric_names, rules_for

if TYPE_CHECKING:
    from planner.answers import OpsJson

# Defaults when the plan has no targets: stated in every emitted file that uses them.
DEFAULT_SLO_PERCENTILE = 95.0
# A conventional bound for interactive chat: past ~2 s users see the service as stalled.
DEFAULT_SLO_TTFT_MS = 2000.0
# 100 ms between tokens is 10 tokens/s, about twice a fast reader's pace: slower than that is felt.
DEFAULT_SLO_ITL_MS = 100.0
# vLLM admits requests until the KV cache is full, then preempts: sustained use above 90% is the warning.
DEFAULT_KV_USAGE_ALERT = 0.9
# A replica takes minutes to start: do not give one back on a short lull (HPA scale-down window).
SCALE_DOWN_STABILIZATION_S = 600
# The existing manifests carry no namespace (kubectl applies them to the current one); the Service's DNS
# name in the gateway config needs one.
DEFAULT_NAMESPACE = "default"
_DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")

# LiteLLM model-string prefixes (`provider/model`) accepted as given by --fallback; checked against
# litellm.provider_list of litellm 1.110.2 (PyPI), 2026-12-02.
LITELLM_PROVIDERS = ("openai", "azure", "anthropic", "gemini", "vertex_ai", "bedrock", "mistral", "groq",
                     "together_ai", "deepinfra", "fireworks_ai", "openrouter", "novita", "hosted_vllm")
# The hosted price catalog's providers (model_catalog/hosted/api-prices.json) whose model ids LiteLLM takes
# as they are after its prefix. Fireworks is left out: LiteLLM wants accounts/fireworks/models/<id> there.
_CATALOG_PROVIDER_PREFIX = {"OpenAI": "openai", "Anthropic": "anthropic", "Google": "gemini", "Groq": "groq",
                            "Together": "together_ai", "DeepInfra": "deepinfra", "OpenRouter": "openrouter",
                            "Novita": "novita"}


@dataclass(frozen=True, kw_only=True)
class OpsLoad:
    """A capacity plan's figures (`plan` with a workload: planner.planning.sizing.LoadFit), as plain numbers."""

    request_rate: float                 # average load, req/s
    peak_to_average: float
    per_replica_rate: float             # highest req/s one replica sustains within the targets
    replicas: int                       # planned for the peak: ceil(rate x peak_to_average / per_replica_rate)
    slo_ttft_ms: float | None = None
    slo_tpot_ms: float | None = None
    slo_percentile: float = DEFAULT_SLO_PERCENTILE
    queue_depth: float | None = None    # waiting per replica where the TTFT target breaks (perf.queue)


@dataclass(frozen=True, kw_only=True)
class OpsTargets:
    """Everything the HPA, alert rules, dashboard and gateway config are written from."""

    name: str                           # the Deployment / Service / HPA name (Deployment.name)
    served_model_name: str              # what clients ask for, and vLLM's `model_name` metric label
    port: int                           # the Service port
    vllm_version: str
    engine: str                         # "v0" | "v1": which metric names the release exposes
    namespace: str = DEFAULT_NAMESPACE
    replicas: int | None = None         # planned at the peak (None without a workload)
    min_replicas: int = 1
    max_replicas: int = 4
    queue_depth: float = 5.0            # HPA target: time-averaged vllm:num_requests_waiting per pod
    scale_down_stabilization_s: int = SCALE_DOWN_STABILIZATION_S
    slo_percentile: float = DEFAULT_SLO_PERCENTILE
    slo_ttft_ms: float = DEFAULT_SLO_TTFT_MS
    slo_itl_ms: float = DEFAULT_SLO_ITL_MS
    kv_usage_alert: float = DEFAULT_KV_USAGE_ALERT
    fallback_model: str | None = None   # a LiteLLM model string (provider/model)
    api_key_env: str | None = None      # the variable holding the vLLM server's API key, when it has one
    request_rate: float | None = None   # average req/s of the workload
    peak_to_average: float | None = None
    per_replica_rate: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)   # the defaults taken, and why

    def __post_init__(self) -> None:
        def bad(message: str) -> PlannerError:
            return PlannerError(message, code="emit_bad_ops")

        if not self.served_model_name.strip():
            raise bad("the served model name is empty")
        if not _DNS_1123_LABEL.fullmatch(self.namespace):
            raise bad(f"namespace {self.namespace!r} is not a DNS-1123 label")
        if self.engine not in ("v0", "v1"):
            raise bad(f"engine must be v0 or v1, got {self.engine!r}")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise bad(f"replicas: need 1 <= min ({self.min_replicas}) <= max ({self.max_replicas})")
        if not (self.queue_depth > 0 and math.isfinite(self.queue_depth)):
            raise bad(f"the queue-depth target must be positive, got {self.queue_depth}")
        if not 0 < self.slo_percentile <= 100:
            raise bad(f"the SLO percentile must be in (0, 100], got {self.slo_percentile}")
        for label, v in (("TTFT", self.slo_ttft_ms), ("inter-token latency", self.slo_itl_ms)):
            if not (v > 0 and math.isfinite(v)):
                raise bad(f"the {label} target must be a positive number of ms, got {v}")
        if not 0 < self.kv_usage_alert <= 1:
            raise bad(f"the KV-cache usage alert must be in (0, 1], got {self.kv_usage_alert}")
        if self.scale_down_stabilization_s < 0:
            raise bad("the scale-down stabilization window cannot be negative")

    @property
    def metrics(self) -> MetricNames:
        """The series names of the target release (planner.release.vllm_versions)."""
        return metric_names(rules_for(self.vllm_version, self.engine))

    @property
    def quantile(self) -> float:
        """The SLO percentile as histogram_quantile's argument (95 -> 0.95)."""
        return round(self.slo_percentile / 100, 6)

    @property
    def service_url(self) -> str:
        """The OpenAI-compatible base URL of the Kubernetes Service, from inside the cluster."""
        return f"http://{self.name}.{self.namespace}.svc.cluster.local:{self.port}/v1"

    def to_json(self) -> OpsJson:
        return {"name": self.name, "namespace": self.namespace, "served_model_name": self.served_model_name,
                "replicas": self.replicas, "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "queue_depth_target": self.queue_depth, "queue_metric": self.metrics.waiting,
                "scale_down_stabilization_s": self.scale_down_stabilization_s,
                "slo": {"percentile": self.slo_percentile, "ttft_ms": self.slo_ttft_ms,
                        "itl_ms": self.slo_itl_ms},
                "kv_usage_alert": self.kv_usage_alert, "fallback_model": self.fallback_model,
                "request_rate": None if self.request_rate is None else round(self.request_rate, 6),
                "peak_to_average": self.peak_to_average,
                "per_replica_rate": None if self.per_replica_rate is None else round(self.per_replica_rate, 4),
                "notes": list(self.notes)}


def metric_model_name(d: Deployment) -> str:
    """vLLM's `model_name` label: the first --served-model-name, else the model argument (both engines:
    model_config.served_model_name)."""
    if d.served_model_name is not None:
        return d.served_model_name
    given = dict(d.args.passthrough).get("--served-model-name")
    names = shlex.split(given) if given else []
    return names[0] if names else d.model


def litellm_model(fallback: str) -> str:
    """The LiteLLM model string for --fallback: `provider/model` as given, or a bare model id that the hosted
    price catalog names under exactly one provider LiteLLM addresses by that id (gpt-4o-mini ->
    openai/gpt-4o-mini)."""
    text = fallback.strip()
    if not text or len(text) > 200 or any(c.isspace() or not c.isprintable() for c in text):
        raise PlannerError(f"--fallback: {text[:40]!r} is not a model name", code="emit_bad_fallback",
                           hint="e.g. gpt-4o-mini or anthropic/claude-haiku-4-5")
    prefix = text.split("/", 1)[0]
    if "/" in text and prefix in LITELLM_PROVIDERS:
        return text
    want = text.lower()
    hits = sorted({(p.provider, p.model) for p in api_prices() if p.model.lower() == want})
    usable = [(prov, m) for prov, m in hits if prov in _CATALOG_PROVIDER_PREFIX]
    if len(usable) == 1:
        prov, m = usable[0]
        return f"{_CATALOG_PROVIDER_PREFIX[prov]}/{m}"
    if len(usable) > 1:
        options = ", ".join(f"{_CATALOG_PROVIDER_PREFIX[p]}/{m}" for p, m in usable)
        raise PlannerError(f"--fallback {text}: served by several providers", code="emit_bad_fallback",
                           hint=f"name one as LiteLLM does: {options}")
    names = sorted({p.model for p in api_prices() if p.provider in _CATALOG_PROVIDER_PREFIX})
    raise PlannerError(f"--fallback {text}: neither provider/model nor a hosted model of the price catalog",
                       code="emit_bad_fallback",
                       hint=did_you_mean(text, names) or "give provider/model as LiteLLM names it, e.g. "
                       "openai/gpt-4o-mini")


def _tenths_down(x: float) -> float:
    return max(0.1, math.floor(x * 10 + 1e-9) / 10)


def ops_targets(d: Deployment, *, load: OpsLoad | None = None, fallback: str | None = None,
                namespace: str = DEFAULT_NAMESPACE, kv_usage_alert: float = DEFAULT_KV_USAGE_ALERT) -> OpsTargets:
    """The targets for deployment `d` (module docstring): from `load` where given, else the defaults."""
    notes: list[str] = []
    engine = rules_for(d.vllm_version, env=d.env).engine
    common: dict[str, Any] = dict(
        name=d.name, served_model_name=metric_model_name(d), port=d.port, vllm_version=d.vllm_version,
        engine=engine, namespace=namespace, kv_usage_alert=kv_usage_alert,
        fallback_model=None if fallback is None else litellm_model(fallback),
        api_key_env=API_KEY_ENV if api_key_required(d) else None)
    if load is None:
        notes.append(f"no workload: min replicas 1, max replicas {d.max_replicas} and "
                     f"{d.waiting_per_pod} waiting requests per pod are starting points to tune")
        ttft, itl, pct = None, None, DEFAULT_SLO_PERCENTILE
        sized: dict[str, Any] = dict(min_replicas=1, max_replicas=d.max_replicas, queue_depth=float(d.waiting_per_pod))
    else:
        c = load
        if not (c.per_replica_rate > 0 and c.request_rate > 0 and c.replicas >= 1):
            raise PlannerError("ops load: the rates must be positive and the replicas at least 1",
                               code="emit_bad_ops")
        warm = max(1, math.ceil(c.request_rate / c.per_replica_rate - 1e-9))
        if c.queue_depth is None:
            queue = float(d.waiting_per_pod)
            notes.append(f"no queue depth from the perf model: {d.waiting_per_pod} waiting requests per pod")
        else:
            queue = _tenths_down(c.queue_depth)
        sized = dict(replicas=c.replicas, min_replicas=min(warm, c.replicas), max_replicas=c.replicas,
                     queue_depth=queue, request_rate=c.request_rate, peak_to_average=c.peak_to_average,
                     per_replica_rate=c.per_replica_rate)
        ttft, itl, pct = c.slo_ttft_ms, c.slo_tpot_ms, c.slo_percentile
    if ttft is None:
        notes.append(f"no TTFT target: alerts at p{pct:g} above {DEFAULT_SLO_TTFT_MS:g} ms, a conventional "
                     "bound for interactive use (set --slo-ttft-ms)")
        ttft = DEFAULT_SLO_TTFT_MS
    if itl is None:
        notes.append(f"no TPOT target: inter-token latency alerts at p{pct:g} above {DEFAULT_SLO_ITL_MS:g} ms "
                     "(10 tokens/s; set --slo-tpot-ms)")
        itl = DEFAULT_SLO_ITL_MS
    return OpsTargets(**common, **sized, slo_percentile=pct, slo_ttft_ms=ttft, slo_itl_ms=itl, notes=tuple(notes))
