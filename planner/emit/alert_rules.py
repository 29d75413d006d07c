"""Prometheus alert rules on vLLM's own metrics, at the plan's targets: a plain rules file and a PrometheusRule.

The expressions read the series the target release exposes (planner.release.vllm_versions.metric_names) for the one
served model (`model_name`, the label every vLLM series carries):
* TTFT and inter-token latency: histogram_quantile at the SLO percentile over 5 minutes of the histograms'
  rates, summed across pods, against the TTFT target and the TPOT target (a request's TPOT is the mean of its
  inter-token gaps, so the gaps' percentile is the stricter reading of the same target). Quantiles from
  buckets interpolate linearly inside a bucket: a target between two bucket bounds is read approximately
  (vLLM 0.33's TTFT buckets: ... 0.1, 0.25, 0.5, 0.75, 1, 2.5 s ...; inter-token: ... 0.025, 0.05, 0.075,
  0.1, 0.15 s ...; vllm/v1/metrics/buckets.py).
* queue depth: the time-averaged waiting queue per series above the HPA's target for 15 minutes means the
  autoscaler is not keeping up (at max replicas, pods pending, or the metrics adapter not serving).
* KV cache: a pod's cache above the alert threshold for 15 minutes; preemptions: any, sustained (vLLM
  frees a request's blocks and recomputes it when the cache runs out: the batch is larger than the cache).
* absent: no series for the model for 10 minutes (down, or not scraped).
"""

from __future__ import annotations

import json
from typing import Any

from planner.emit.ops import OpsTargets
from planner.emit.text import comment_lines, dump_yaml

RATE_WINDOW = "5m"


def _seconds(ms: float) -> str:
    """A threshold in seconds for PromQL, without float noise (500 -> 0.5, 40 -> 0.04)."""
    return f"{ms / 1000:.6f}".rstrip("0").rstrip(".")


def _number(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def rule_groups(t: OpsTargets) -> list[dict[str, Any]]:
    """The rule groups both forms carry (module docstring)."""
    m = t.metrics
    # A PromQL string literal takes Go's escapes, which JSON's are a subset of.
    sel = f"model_name={json.dumps(t.served_model_name)}"
    pct = f"p{t.slo_percentile:g}"
    w = RATE_WINDOW

    def quantile(hist: str) -> str:
        return f"histogram_quantile({_number(t.quantile)}, sum by (le, model_name) (rate({hist}_bucket{{{sel}}}[{w}])))"

    def rule(alert: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
        return {"alert": alert, "expr": expr, "for": for_, "labels": {"severity": severity},
                "annotations": {"summary": summary, "description": description}}

    rules = [
        rule("VLLMTimeToFirstTokenHigh", f"{quantile(m.ttft)} > {_seconds(t.slo_ttft_ms)}", "10m", "critical",
             f"vLLM {{{{ $labels.model_name }}}}: {pct} time to first token above {t.slo_ttft_ms:g} ms",
             f"The {pct} TTFT over {w} is {{{{ $value | humanizeDuration }}}} (target {t.slo_ttft_ms:g} ms): "
             "requests queue longer than planned. Check the waiting queue and the replica count."),
        rule("VLLMInterTokenLatencyHigh", f"{quantile(m.itl)} > {_seconds(t.slo_itl_ms)}", "10m", "critical",
             f"vLLM {{{{ $labels.model_name }}}}: {pct} inter-token latency above {t.slo_itl_ms:g} ms",
             f"The {pct} gap between output tokens over {w} is {{{{ $value | humanizeDuration }}}} "
             f"(target {t.slo_itl_ms:g} ms): the running batches are larger or longer than planned."),
        rule("VLLMQueueDepthHigh",
             f"avg by (model_name) (avg_over_time({m.waiting}{{{sel}}}[{w}])) > {_number(t.queue_depth)}",
             "15m", "warning",
             f"vLLM {{{{ $labels.model_name }}}}: more than {_number(t.queue_depth)} requests waiting per pod",
             f"{{{{ $value | printf \"%.1f\" }}}} requests wait per pod on average, above the autoscaler's target "
             f"of {_number(t.queue_depth)} for 15 minutes: it is at its {t.max_replicas} replicas, pods are "
             "pending, or the metrics adapter does not serve the metric."),
        rule("VLLMKVCacheNearlyFull", f"avg_over_time({m.kv_usage}{{{sel}}}[{w}]) > {_number(t.kv_usage_alert)}",
             "15m", "warning",
             f"vLLM {{{{ $labels.model_name }}}}: KV cache above {t.kv_usage_alert:.0%} on {{{{ $labels.instance }}}}",
             "KV-cache usage is {{ $value | humanizePercentage }}: new requests wait for blocks and running "
             "ones get preempted once it is full."),
        rule("VLLMPreemptions", f"sum by (model_name) (rate({m.preemptions}{{{sel}}}[{w}])) > 0", "15m",
             "warning", "vLLM {{ $labels.model_name }}: requests are being preempted",
             "{{ $value | printf \"%.2f\" }} preemptions/s: the KV cache cannot hold the running batch, and "
             "preempted requests are recomputed. Lower --max-num-seqs or give the cache more memory."),
        rule("VLLMMetricsAbsent", f"absent({m.running}{{{sel}}})", "10m", "critical",
             "vLLM {{ $labels.model_name }}: no metrics",
             f"No {m.running} series for the model for 10 minutes: the server is down or not scraped."),
    ]
    return [{"name": f"vllm-{t.name}", "rules": rules}]


def _header(t: OpsTargets) -> list[str]:
    lines = [f"Alert rules for vLLM {t.vllm_version} serving {json.dumps(t.served_model_name)}. Generated by "
             "vllm-planner.",
             f"Targets: TTFT p{t.slo_percentile:g} {t.slo_ttft_ms:g} ms, inter-token latency p{t.slo_percentile:g} "
             f"{t.slo_itl_ms:g} ms, queue {_number(t.queue_depth)} waiting per pod, KV cache "
             f"{t.kv_usage_alert:.0%}."]
    lines += [f"Default: {n}." for n in t.notes]
    return lines


def alerts(t: OpsTargets) -> str:
    """A Prometheus rules file (`rule_files:` in prometheus.yml; `promtool check rules` accepts it)."""
    head = [*_header(t), "Load it with rule_files: [alerts.rules.yaml] in prometheus.yml; check it with",
            "promtool check rules alerts.rules.yaml."]
    return comment_lines(head) + "\n" + dump_yaml({"groups": rule_groups(t)})


def prometheus_rule(t: OpsTargets) -> str:
    """The same groups as a prometheus-operator PrometheusRule (monitoring.coreos.com/v1)."""
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"{t.name}-alerts", "labels": {"app.kubernetes.io/name": t.name}},
        "spec": {"groups": rule_groups(t)},
    }
    head = [*_header(t), "The operator loads it when the Prometheus resource's ruleSelector matches its labels",
            "(kube-prometheus-stack: add the label release: <your Helm release>); kubectl apply -f "
            "prometheus-rule.yaml."]
    return comment_lines(head) + "\n" + dump_yaml(doc)
