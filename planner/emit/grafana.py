"""A Grafana dashboard (JSON model, schemaVersion 39) for one served model, on vLLM's own metrics.

Panels: TTFT and inter-token latency at p50 and the SLO percentile with the targets drawn as threshold
lines (what users feel), request rate by finish reason, running and waiting requests with the autoscaler's
queue target, KV-cache usage per pod with the alert threshold, prompt and generation tokens per second,
preemptions, and the replicas reporting. Two variables: the Prometheus data source and the model_name label
(default: the plan's served model). Import with Dashboards > New > Import, or provision the file.
"""

from __future__ import annotations

import json
from typing import Any

from planner.emit.ops import OpsTargets

SCHEMA_VERSION = 39
_DS = {"type": "prometheus", "uid": "${datasource}"}


def _number(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": _DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def _panel(pid: int, title: str, description: str, unit: str, targets: list[dict[str, Any]],
           grid: tuple[int, int, int, int], threshold: float | None = None, maximum: float | None = None,
           ) -> dict[str, Any]:
    x, y, w, h = grid
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if threshold is not None:
        steps.append({"color": "red", "value": threshold})
    defaults: dict[str, Any] = {
        "unit": unit,
        "min": 0,
        "thresholds": {"mode": "absolute", "steps": steps},
        "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0,
                   "thresholdsStyle": {"mode": "line" if threshold is not None else "off"}},
    }
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "none"}},
        "targets": targets,
    }


def dashboard_doc(t: OpsTargets) -> dict[str, Any]:
    m = t.metrics
    sel = 'model_name="$model_name"'
    r = "$__rate_interval"
    q = _number(t.quantile)
    pct = f"p{t.slo_percentile:g}"

    def quantiles(hist: str) -> list[dict[str, Any]]:
        out = [_target(f"histogram_quantile(0.5, sum by (le) (rate({hist}_bucket{{{sel}}}[{r}])))", "p50", "A")]
        if q != "0.5":
            out.append(_target(f"histogram_quantile({q}, sum by (le) (rate({hist}_bucket{{{sel}}}[{r}])))", pct, "B"))
        return out

    panels = [
        _panel(1, "Time to first token", f"{pct} target {t.slo_ttft_ms:g} ms (red line).", "s",
               quantiles(m.ttft), (0, 0, 12, 8), threshold=t.slo_ttft_ms / 1000),
        _panel(2, "Inter-token latency", f"{pct} target {t.slo_itl_ms:g} ms (the plan's TPOT target; red line).",
               "s", quantiles(m.itl), (12, 0, 12, 8), threshold=t.slo_itl_ms / 1000),
        _panel(3, "Requests finished per second", "By finish reason (stop, length, abort).", "reqps",
               [_target(f"sum by (finished_reason) (rate({m.request_success}{{{sel}}}[{r}]))",
                        "{{finished_reason}}", "A")], (0, 8, 12, 8)),
        _panel(4, "Running and waiting requests",
               f"Totals over pods, and waiting per pod against the autoscaler's target of "
               f"{_number(t.queue_depth)} (red line).", "short",
               [_target(f"sum({m.running}{{{sel}}})", "running", "A"),
                _target(f"sum({m.waiting}{{{sel}}})", "waiting", "B"),
                _target(f"avg({m.waiting}{{{sel}}})", "waiting per pod", "C")],
               (12, 8, 12, 8), threshold=t.queue_depth),
        _panel(5, "KV-cache usage", f"Per pod; the alert fires above {t.kv_usage_alert:.0%} (red line).",
               "percentunit", [_target(f"{m.kv_usage}{{{sel}}}", "{{instance}}", "A")], (0, 16, 12, 8),
               threshold=t.kv_usage_alert, maximum=1),
        _panel(6, "Tokens per second", "Prompt tokens prefilled and tokens generated, over pods.", "short",
               [_target(f"sum(rate({m.prompt_tokens}{{{sel}}}[{r}]))", "prompt", "A"),
                _target(f"sum(rate({m.generation_tokens}{{{sel}}}[{r}]))", "generation", "B")], (12, 16, 12, 8)),
        _panel(7, "Preemptions per second", "Requests whose KV blocks were freed to be recomputed.", "short",
               [_target(f"sum(rate({m.preemptions}{{{sel}}}[{r}]))", "preemptions", "A")], (0, 24, 12, 8)),
        _panel(8, "Replicas reporting", f"vLLM engines with metrics; the autoscaler runs {t.min_replicas} to "
               f"{t.max_replicas}.", "short", [_target(f"count({m.running}{{{sel}}})", "engines", "A")],
               (12, 24, 12, 8)),
    ]
    templating = {"list": [
        {"type": "datasource", "name": "datasource", "label": "Prometheus", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1},
        {"type": "query", "name": "model_name", "label": "Model", "datasource": _DS,
         "query": {"query": f"label_values({m.running}, model_name)", "refId": "model_name"},
         "refresh": 2, "hide": 0,
         "current": {"text": t.served_model_name, "value": t.served_model_name}, "options": [],
         "includeAll": False, "multi": False, "sort": 1},
    ]}
    return {
        "uid": f"vllm-{t.name}"[:40].rstrip("-"),
        "title": f"vLLM {t.served_model_name}",
        "description": " ".join([f"vLLM {t.vllm_version} serving {t.served_model_name}. Generated by vllm-planner.",
                                 *(f"Default: {n}." for n in t.notes)]),
        "tags": ["vllm", "vllm-planner"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-3h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "templating": templating,
        "annotations": {"list": []},
        "panels": panels,
    }


def dashboard(t: OpsTargets) -> str:
    """The dashboard as JSON text (Grafana's import format)."""
    return json.dumps(dashboard_doc(t), indent=2) + "\n"
