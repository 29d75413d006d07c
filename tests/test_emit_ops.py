"""What operations need, emitted with the plan: the targets, and every file against its schema or tool.

- HPA: kubernetes_validate (strict) on the oldest and newest Kubernetes it ships, like the other manifests.
- Alert rules: the real `promtool check rules` (tests/promtool.py fetches Debian's prometheus package), and
  `promtool test rules` proving that the TTFT alert fires above the target and not below it.
- PrometheusRule: the prometheus-operator v0.93.1 CRD schema (tests/golden/emit/schema/prometheusrule-v1.json,
  see the README there), its metadata as Kubernetes ObjectMeta, its groups through promtool.
- Dashboard: a round trip through grafana-foundation-sdk's Dashboard model: every key emitted survives.
- LiteLLM: the JSON schema of litellm 1.110.2's ConfigYAML (vendored: installing litellm takes ~105 s here),
  plus the references the schema cannot express; and ConfigYAML itself when litellm happens to be installed.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from promtool import promtool_or_skip
from test_emit_cases import cases, catalog_gpu, ops_cases
from typer.testing import CliRunner

from planner.cli import app
from planner.emit import (
    FILES,
    OPS_FORMS,
    Deployment,
    OpsLoad,
    OpsTargets,
    alerts,
    dashboard,
    emit,
    hpa,
    k8s,
    litellm,
    ops_targets,
    prometheus_rule,
    render_all,
)
from planner.emit.autoscaling import quantity
from planner.emit.gateway import litellm_config, litellm_doc, stream_timeout_s
from planner.emit.grafana import dashboard_doc
from planner.emit.ops import litellm_model
from planner.errors import PlannerError
from planner.release.engine_args import EngineArgs

SCHEMA = Path(__file__).parent / "golden" / "emit" / "schema"
K8S_VERSIONS = [kv_utils.all_versions()[0], kv_utils.latest_version()]
NASTY = "a b'c\"d;e$(touch /tmp/x)`id`${HF_TOKEN}{{ $value }}\nz"


def _dep(**changes: Any) -> Deployment:
    base: dict[str, Any] = dict(model="org/model", args=EngineArgs(gpu_memory_utilization=0.9, max_model_len=4096,
                                                                   max_num_seqs=8),
                                vllm_version="0.33.0", gpu=catalog_gpu("H100-SXM-80GB"), num_gpus=1)
    base.update(changes)
    return Deployment(**base)


def _nasty() -> tuple[Deployment, OpsTargets]:
    d = _dep(model="./models/x", served_model_name=NASTY, name="nasty")
    return d, ops_targets(d, fallback="gpt-4o-mini")


def _all() -> dict[str, tuple[Deployment, OpsTargets]]:
    return {**{c: (d, ops_cases()[c]) for c, d in cases().items()}, "nasty": _nasty()}


# ---------------------------------------------------------------- targets

def test_capacity_maps_onto_the_targets() -> None:
    t = ops_cases()["single-gpu"]
    assert (t.replicas, t.min_replicas, t.max_replicas) == (5, 3, 5)     # ceil(40 / 18.5) warm, 5 at the peak
    assert t.queue_depth == 1.0                                          # 1.09 rounded down to a tenth
    assert (t.slo_percentile, t.slo_ttft_ms, t.slo_itl_ms) == (95, 500, 40)
    assert t.fallback_model == "openai/gpt-4o-mini" and t.notes == ()
    assert t.to_json()["queue_metric"] == "vllm:num_requests_waiting"
    json.dumps(t.to_json())


def test_defaults_are_stated() -> None:
    t = ops_cases()["tp4-gated"]
    assert (t.min_replicas, t.max_replicas, t.queue_depth, t.replicas) == (1, 4, 5.0, None)
    assert len(t.notes) == 3
    for form in OPS_FORMS:
        text = emit(cases()["tp4-gated"], form, t)
        if form == "litellm":                   # no fallback: no number from the targets in it
            assert "No fallback" in text
        else:
            assert "no workload" in text or "no TTFT target" in text, form


def test_warm_pool_and_queue_rounding() -> None:
    d = cases()["single-gpu"]

    def cap(**kw: Any) -> OpsTargets:
        base: dict[str, Any] = dict(request_rate=10, peak_to_average=2, per_replica_rate=10, replicas=2)
        return ops_targets(d, load=OpsLoad(**{**base, **kw}))

    assert cap().min_replicas == 1                                  # exactly one replica's rate: one warm
    assert cap(request_rate=10.5, replicas=3).min_replicas == 2
    assert cap(request_rate=0.01, replicas=1).min_replicas == 1     # never below one
    assert cap(queue_depth=0.02).queue_depth == 0.1                 # a positive HPA target, at least 0.1
    assert cap(queue_depth=2.37).queue_depth == 2.3


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"min_replicas": 0}, "replicas"),
    ({"min_replicas": 5, "max_replicas": 4}, "replicas"),
    ({"queue_depth": 0.0}, "queue"),
    ({"queue_depth": math.inf}, "queue"),
    ({"slo_percentile": 100.5}, "percentile"),
    ({"slo_percentile": 0.0}, "percentile"),
    ({"slo_ttft_ms": -1.0}, "TTFT"),
    ({"slo_itl_ms": math.nan}, "inter-token"),
    ({"kv_usage_alert": 1.5}, "KV"),
    ({"namespace": "Bad_NS"}, "namespace"),
    ({"served_model_name": " "}, "served"),
])
def test_bad_targets_are_planner_errors(changes: dict[str, Any], fragment: str) -> None:
    base: dict[str, Any] = dict(name="m", served_model_name="m", port=8000, vllm_version="0.33.0", engine="v1")
    with pytest.raises(PlannerError) as exc:
        OpsTargets(**{**base, **changes})
    assert exc.value.code == "emit_bad_ops" and fragment in exc.value.message


def test_fallback_names() -> None:
    assert litellm_model("gpt-4o-mini") == "openai/gpt-4o-mini"
    assert litellm_model("claude-haiku-4-5") == "anthropic/claude-haiku-4-5"
    assert litellm_model("gemini-2.5-flash") == "gemini/gemini-2.5-flash"
    assert litellm_model("anthropic/claude-sonnet-4-5") == "anthropic/claude-sonnet-4-5"
    assert litellm_model("openrouter/meta-llama/llama-3.1-8b-instruct") == "openrouter/meta-llama/llama-3.1-8b-instruct"
    with pytest.raises(PlannerError) as exc:
        litellm_model("meta-llama/llama-3.1-8b-instruct")       # DeepInfra and OpenRouter both serve it
    assert "openrouter/meta-llama/llama-3.1-8b-instruct" in (exc.value.hint or "")
    with pytest.raises(PlannerError) as exc:
        litellm_model("gpt-4o-mnii")
    assert exc.value.code == "emit_bad_fallback" and "gpt-4o-mini" in (exc.value.hint or "")
    for bad in ("", "a b", "x\n", "q" * 300):
        with pytest.raises(PlannerError):
            litellm_model(bad)


def test_metric_label_is_the_first_served_name() -> None:
    d = _dep(args=EngineArgs(gpu_memory_utilization=0.9, max_model_len=4096, max_num_seqs=8,
                             passthrough=(("--served-model-name", "first second"),)))
    assert ops_targets(d).served_model_name == "first"
    assert ops_targets(_dep()).served_model_name == "org/model"
    assert ops_targets(cases()["single-gpu"]).served_model_name == "qwen3-8b"


# ---------------------------------------------------------------- metric names per release

@pytest.mark.parametrize(("version", "env", "itl", "kv"), [
    ("0.6.6", {}, "vllm:time_per_output_token_seconds", "vllm:gpu_cache_usage_perc"),
    ("0.9.2", {"VLLM_USE_V1": "0"}, "vllm:time_per_output_token_seconds", "vllm:gpu_cache_usage_perc"),
    ("0.9.2", {}, "vllm:time_per_output_token_seconds", "vllm:kv_cache_usage_perc"),
    ("0.10.2", {}, "vllm:inter_token_latency_seconds", "vllm:kv_cache_usage_perc"),
    ("0.33.0", {}, "vllm:inter_token_latency_seconds", "vllm:kv_cache_usage_perc"),
])
def test_rules_and_dashboard_use_the_release_names(version: str, env: dict[str, str], itl: str, kv: str) -> None:
    t = ops_targets(_dep(vllm_version=version, env=env))
    assert (t.metrics.itl, t.metrics.kv_usage) == (itl, kv)
    other_itl = {"vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds"} - {itl}
    other_kv = {"vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"} - {kv}
    for text in (alerts(t), dashboard(t)):
        assert itl in text and kv in text
        assert not any(n in text for n in other_itl | other_kv)


# ---------------------------------------------------------------- HPA

@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", list(_all()))
def test_hpa_validates(case: str, version: str) -> None:
    d, t = _all()[case]
    doc = yaml.safe_load(hpa(d, t))
    kubernetes_validate.validate(doc, version, strict=True)
    spec = doc["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (t.min_replicas, t.max_replicas)
    metric = spec["metrics"][0]["pods"]
    assert metric["metric"]["name"] == "vllm:num_requests_waiting"
    assert metric["target"] == {"type": "AverageValue", "averageValue": quantity(t.queue_depth)}
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600


def test_k8s_carries_the_same_hpa() -> None:
    for d, t in _all().values():
        assert list(yaml.safe_load_all(k8s(d, t)))[-1] == yaml.safe_load(hpa(d, t))


def test_quantity() -> None:
    assert [quantity(x) for x in (5, 1.0, 1.5, 0.1, 2.3)] == ["5", "1", "1500m", "100m", "2300m"]
    doc = yaml.safe_load(hpa(cases()["single-gpu"], ops_targets(cases()["single-gpu"], load=OpsLoad(
        request_rate=1, peak_to_average=2, per_replica_rate=1, replicas=2, queue_depth=1.57))))
    kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
    assert doc["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "1500m"


def test_hpa_needs_the_k8s_form() -> None:
    with pytest.raises(PlannerError) as exc:
        hpa(_dep(gpu=catalog_gpu("MI300X-192GB")), ops_targets(_dep()))
    assert exc.value.code == "emit_unsupported_gpu"


# ---------------------------------------------------------------- alert rules

@pytest.fixture(scope="module")
def promtool() -> Path:
    return promtool_or_skip()


@pytest.mark.parametrize("case", list(_all()))
def test_promtool_accepts_the_rules(case: str, promtool: Path, tmp_path: Path) -> None:
    _, t = _all()[case]
    path = tmp_path / "alerts.rules.yaml"
    path.write_text(alerts(t), encoding="utf-8")
    out = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 6 rules found" in out.stdout


def test_promtool_rejects_a_broken_rule(promtool: Path, tmp_path: Path) -> None:
    """The check is not vacuous: a PromQL syntax error fails it."""
    doc = yaml.safe_load(alerts(ops_cases()["single-gpu"]))
    doc["groups"][0]["rules"][0]["expr"] = "histogram_quantile(0.95, sum by (le) (rate(x[5m]))"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0


def _ttft_series(fast: int, slow: int) -> list[dict[str, str]]:
    """Cumulative TTFT buckets of one pod receiving `fast` requests at 0.1 s and `slow` at 2 s per minute."""
    per_min = {"0.1": fast, "0.25": fast, "0.5": fast, "0.75": fast, "1.0": fast, "2.5": fast + slow,
               "+Inf": fast + slow}
    labels = 'model_name="qwen3-8b", engine="0", pod="qwen3-8b-0"'
    return [{"series": f'vllm:time_to_first_token_seconds_bucket{{{labels}, le="{le}"}}',
             "values": f"0+{n}x40"} for le, n in per_min.items()]


def test_ttft_alert_fires_above_the_target_only(promtool: Path, tmp_path: Path) -> None:
    """`promtool test rules` on synthetic histograms: 10% of requests at 1-2.5 s breaks a 500 ms p95 (the
    quantile interpolates to 1.75 s in that bucket), 2% does not."""
    t = ops_cases()["single-gpu"]
    (tmp_path / "alerts.rules.yaml").write_text(alerts(t), encoding="utf-8")
    rule = next(r for r in yaml.safe_load(alerts(t))["groups"][0]["rules"] if r["alert"] == "VLLMTimeToFirstTokenHigh")
    annotations = {k: v.replace("{{ $labels.model_name }}", "qwen3-8b").replace("{{ $value | humanizeDuration }}",
                                                                                "1.75s")
                   for k, v in rule["annotations"].items()}
    alert = {"eval_time": "30m", "alertname": "VLLMTimeToFirstTokenHigh"}
    firing = {**alert, "exp_alerts": [{"exp_labels": {"severity": "critical", "model_name": "qwen3-8b"},
                                       "exp_annotations": annotations}]}
    tests = {"rule_files": ["alerts.rules.yaml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": _ttft_series(fast=90, slow=10), "alert_rule_test": [firing]},
        {"interval": "1m", "input_series": _ttft_series(fast=98, slow=2), "alert_rule_test": [alert]},
    ]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    out = subprocess.run([str(promtool), "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _prometheus_rule_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((SCHEMA / "prometheusrule-v1.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", list(_all()))
def test_prometheus_rule_validates(case: str, promtool: Path, tmp_path: Path) -> None:
    _, t = _all()[case]
    doc = yaml.safe_load(prometheus_rule(t))
    assert [e.message for e in _prometheus_rule_validator().iter_errors(doc)] == []
    # metadata is a Kubernetes ObjectMeta: checked as that of a ConfigMap.
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]},
                                 K8S_VERSIONS[-1], strict=True)
    names = [g["name"] for g in doc["spec"]["groups"]]
    assert len(names) == len(set(names))                    # the CRD lists groups as a map keyed by name
    # The operator's admission webhook parses the rules as Prometheus does: so does promtool.
    assert doc["spec"]["groups"] == yaml.safe_load(alerts(t))["groups"]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}), encoding="utf-8")
    out = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout


def test_prometheus_rule_schema_rejects_a_broken_rule() -> None:
    doc = yaml.safe_load(prometheus_rule(ops_cases()["single-gpu"]))
    rule = doc["spec"]["groups"][0]["rules"][0]
    rule["for"] = "ten minutes"
    rule["severity"] = "critical"                       # belongs under labels
    doc["spec"]["group"] = []
    assert len(list(_prometheus_rule_validator().iter_errors(doc))) >= 3


def test_rule_thresholds_are_the_targets() -> None:
    t = ops_cases()["single-gpu"]
    rules = {r["alert"]: r for r in yaml.safe_load(alerts(t))["groups"][0]["rules"]}
    assert rules["VLLMTimeToFirstTokenHigh"]["expr"].startswith("histogram_quantile(0.95, ")
    assert rules["VLLMTimeToFirstTokenHigh"]["expr"].endswith(") > 0.5")
    assert "vllm:inter_token_latency_seconds_bucket" in rules["VLLMInterTokenLatencyHigh"]["expr"]
    assert rules["VLLMInterTokenLatencyHigh"]["expr"].endswith(") > 0.04")
    assert rules["VLLMQueueDepthHigh"]["expr"].endswith(" > 1")
    assert rules["VLLMKVCacheNearlyFull"]["expr"].endswith(" > 0.9")
    assert "vllm:num_preemptions_total" in rules["VLLMPreemptions"]["expr"]
    assert all('model_name="qwen3-8b"' in r["expr"] for r in rules.values())


# ---------------------------------------------------------------- dashboard

def _grafana_round_trip(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` read into grafana-foundation-sdk's Dashboard model and written back. With the default plugins
    registered, panels' options and fieldConfig and Prometheus queries are read into their typed models
    (timeseries, prometheus.Dataquery), which keep only the fields they know."""
    sdk = pytest.importorskip("grafana_foundation_sdk.models.dashboard")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins

    register_default_plugins()
    return json.loads(JSONEncoder().encode(sdk.Dashboard.from_json(doc)))


def _lost(emitted: Any, back: Any, path: str = "") -> list[str]:
    """Keys or values of `emitted` that the round trip dropped or changed (it may add defaults)."""
    if isinstance(emitted, dict):
        if not isinstance(back, dict):
            return [path]
        out: list[str] = []
        for k, v in emitted.items():
            out += [f"{path}/{k}"] if k not in back else _lost(v, back[k], f"{path}/{k}")
        return out
    if isinstance(emitted, list):
        if not isinstance(back, list) or len(back) != len(emitted):
            return [path]
        return [x for i, (a, b) in enumerate(zip(emitted, back, strict=True)) for x in _lost(a, b, f"{path}[{i}]")]
    return [] if emitted == back else [f"{path}: {emitted!r} -> {back!r}"]


@pytest.mark.parametrize("case", list(_all()))
def test_dashboard_round_trips_through_the_grafana_sdk(case: str) -> None:
    _, t = _all()[case]
    emitted = json.loads(dashboard(t))
    back = _grafana_round_trip(emitted)
    assert _lost(emitted, back) == []
    assert len(emitted["uid"]) <= 40 and emitted["schemaVersion"] == 39


def test_dashboard_round_trip_is_not_vacuous() -> None:
    emitted = json.loads(dashboard(ops_cases()["single-gpu"]))
    emitted["panels"][0]["gridpos"] = emitted["panels"][0].pop("gridPos")         # misspelled keys
    emitted["panels"][1]["targets"][0]["exprr"] = "up"
    emitted["panels"][2]["fieldConfig"]["defaults"]["custom"]["linewidth"] = 2
    emitted["panels"][3]["options"]["legend"]["show"] = True
    assert len(_lost(emitted, _grafana_round_trip(emitted))) >= 4


def test_dashboard_panels_and_thresholds() -> None:
    t = ops_cases()["single-gpu"]
    doc = dashboard_doc(t)
    titles = [p["title"] for p in doc["panels"]]
    assert titles[:2] == ["Time to first token", "Inter-token latency"]
    steps = {p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"] for p in doc["panels"]}
    assert steps["Time to first token"][-1]["value"] == 0.5
    assert steps["Inter-token latency"][-1]["value"] == 0.04
    assert steps["KV-cache usage"][-1]["value"] == 0.9
    exprs = " ".join(tg["expr"] for p in doc["panels"] for tg in p["targets"])
    for name in ("vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
                 "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:generation_tokens_total", "vllm:request_success_total", "histogram_quantile(0.95,"):
        assert name in exprs
    var = doc["templating"]["list"][1]
    assert var["current"]["value"] == "qwen3-8b"


# ---------------------------------------------------------------- LiteLLM

def _litellm_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMA / "litellm-config.json").read_text(encoding="utf-8")))


def _litellm_errors(doc: dict[str, Any]) -> list[str]:
    schema = _litellm_validator().schema
    errors = [e.message for e in _litellm_validator().iter_errors(doc)]
    # pydantic ignores unknown keys, so the schema does not refuse them: a misspelled section would be
    # silently dropped by the proxy. Unknown keys are errors here.
    errors += [f"unknown key {k}" for k in doc if k not in schema["properties"]]
    model_keys = schema["$defs"]["ModelParams"]["properties"]
    errors += [f"unknown model key {k}" for m in doc.get("model_list") or [] for k in m if k not in model_keys]
    router_keys = schema["$defs"]["UpdateRouterConfig"]["properties"]
    errors += [f"unknown router key {k}" for k in doc.get("router_settings") or {} if k not in router_keys]
    names = {m["model_name"] for m in doc.get("model_list") or []}
    for entry in (doc.get("router_settings") or {}).get("fallbacks") or []:
        for primary, targets in entry.items():
            errors += [f"fallback names {n}, not in model_list" for n in [primary, *targets] if n not in names]
    return errors


@pytest.mark.parametrize("case", list(_all()))
def test_litellm_config_validates(case: str) -> None:
    d, t = _all()[case]
    doc = yaml.safe_load(litellm(d, t))
    assert _litellm_errors(doc) == []
    primary = doc["model_list"][0]
    assert primary["model_name"] == t.served_model_name
    assert primary["litellm_params"]["model"] == "hosted_vllm/" + t.served_model_name
    assert primary["litellm_params"]["api_base"] == f"http://{d.name}.default.svc.cluster.local:{d.port}/v1"


def test_litellm_schema_is_not_vacuous() -> None:
    doc = yaml.safe_load(litellm(*_all()["single-gpu"]))
    doc["router_settings"]["fallbacks"] = [{"qwen3-8b": ["gpt-4o"]}]           # no such model_name
    doc["model_list"][1].pop("litellm_params")
    doc["router_settings"]["num_retries"] = "zero"
    doc["router_setting"] = {}
    assert len(_litellm_errors(doc)) >= 4


def test_litellm_fallback_and_timeouts() -> None:
    t = ops_cases()["single-gpu"]
    doc = litellm_doc(t)
    assert doc["router_settings"] == {"num_retries": 0, "fallbacks": [{"qwen3-8b": ["gpt-4o-mini"]}]}
    assert doc["model_list"][1] == {"model_name": "gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini"}}
    assert doc["model_list"][0]["litellm_params"]["stream_timeout"] == stream_timeout_s(t) == 1.0
    alone = litellm_doc(ops_cases()["tp4-gated"])
    assert len(alone["model_list"]) == 1 and "fallbacks" not in alone["router_settings"]
    assert "stream_timeout" not in alone["model_list"][0]["litellm_params"]   # a cut request would just fail


def test_litellm_reads_the_api_key_from_the_environment() -> None:
    d = _dep(args=EngineArgs(gpu_memory_utilization=0.9, max_model_len=4096, max_num_seqs=8,
                             passthrough=(("--api-key", "sk-SECRET"),)))
    text = litellm(d, ops_targets(d))
    assert "sk-SECRET" not in text
    assert yaml.safe_load(text)["model_list"][0]["litellm_params"]["api_key"] == "os.environ/VLLM_API_KEY"


def test_litellm_outside_kubernetes_points_at_the_host() -> None:
    d = _dep(gpu=catalog_gpu("MI300X-192GB"), port=9000)
    doc = yaml.safe_load(litellm(d, ops_targets(d)))
    assert doc["model_list"][0]["litellm_params"]["api_base"] == "http://localhost:9000/v1"


def test_litellm_parses_with_litellm_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only where litellm is installed (it is not a test dependency: ~105 s to install)."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    types = pytest.importorskip("litellm.proxy._types")
    for d, t in _all().values():
        cfg = types.ConfigYAML.model_validate(yaml.safe_load(litellm(d, t)))
        assert cfg.model_list[0].model_name == t.served_model_name
        cfg = types.ConfigYAML.model_validate(yaml.safe_load(litellm_config(t)))
        assert cfg.model_list[0].model_name == t.served_model_name


# ---------------------------------------------------------------- injection, folder, CLI

def test_plan_values_cannot_escape() -> None:
    d, t = _nasty()
    rules = yaml.safe_load(alerts(t))["groups"][0]["rules"]
    assert all(f"model_name={json.dumps(NASTY)}" in r["expr"] for r in rules)
    assert all(NASTY not in json.dumps(r["annotations"]) for r in rules)      # never inside a template
    for text in (alerts(t), prometheus_rule(t), litellm(d, t), hpa(d, t)):
        comments = [line for line in text.split("\n") if line.startswith("#")]
        body = yaml.safe_load(text)
        assert body is not None and all("\n" not in c for c in comments)
    assert json.loads(dashboard(t))["templating"]["list"][1]["current"]["value"] == NASTY
    assert yaml.safe_load(litellm(d, t))["model_list"][0]["model_name"] == NASTY


def test_folder_holds_every_form() -> None:
    d, t = cases()["single-gpu"], ops_cases()["single-gpu"]
    texts = render_all(d, t)
    assert list(texts) == list(FILES)
    assert texts["hpa.yaml"] == emit(d, "hpa", t) and texts["alerts.rules.yaml"] == alerts(t)
    assert texts["grafana-dashboard.json"] == dashboard(t) and texts["litellm-config.yaml"] == litellm(d, t)
    amd = _dep(gpu=catalog_gpu("MI300X-192GB"))
    left = render_all(amd)
    assert "hpa.yaml" not in left and "alerts.rules.yaml" in left and "litellm-config.yaml" in left
    assert "`hpa.yaml`: --emit hpa targets NVIDIA GPUs" in left["README.md"]


def _cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["plan", "qwen3-8b", "--gpu", "L4", *args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def test_cli_prints_each_form_alone(tmp_path: Path) -> None:
    from planner.commands.plan import build_plan, deployment

    r, m = build_plan([], model="qwen3-8b", gpu="L4")
    d = deployment(r, m)
    t = ops_targets(d, fallback="gpt-4o-mini")
    for form in OPS_FORMS:
        code, out, err = _cli("--emit", form, "--fallback", "gpt-4o-mini")
        assert code == 0, err
        assert out == emit(d, form, t).rstrip("\n") + "\n" and "Plan 1" in err
    code, out, _ = _cli("--json", "--fallback", "gpt-4o-mini")
    assert code == 0 and json.loads(out)["ops"] == t.to_json()
    code, _, _ = _cli("--emit", "all", "--out", str(tmp_path / "o"), "--fallback", "claude-haiku-4-5")
    assert code == 0 and sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(FILES)
    assert "anthropic/claude-haiku-4-5" in (tmp_path / "o" / "litellm-config.yaml").read_text()


def test_a_capacity_plan_sets_the_targets() -> None:
    """plan with a workload: replicas and rates from the capacity plan, the queue target from perf.queue on the
    chosen plan's estimate, and the HPA, rules and gateway written from them."""
    from planner.commands.plan import build_plan, deployment, ops_load, parse_load
    from planner.performance.queue import queue_depth_target

    load = parse_load(request_rate="40", dataset_name=None, random_input_len="1000", random_output_len="200",
                      peak_to_average=None, slo_ttft_ms="500", slo_tpot_ms="40", slo_e2el_ms=None,
                      slo_percentile=None)
    r, m = build_plan([], model="qwen3-8b", gpu="H100", load=load)
    assert r.chosen is not None and r.chosen.load is not None and r.chosen.load.met
    fit = r.chosen.load
    got = ops_load(r)
    assert got is not None
    assert (got.replicas, got.per_replica_rate, got.request_rate) == (fit.replicas, fit.rate, 40)
    q = queue_depth_target(r.chosen.est, fit.load.shape.workload(fit.rate), ttft_ms=500)
    assert got.queue_depth == q.waiting_per_pod and q.status in ("breaks", "holds")
    d = deployment(r, m)
    t = ops_targets(d, load=got, fallback="gpt-4o-mini")
    assert t.max_replicas == fit.replicas and t.min_replicas == max(1, math.ceil(40 / fit.rate - 1e-9))
    assert t.replicas is not None and t.replicas * fit.rate >= 80                 # the peak is covered
    assert t.queue_depth == max(0.1, math.floor(q.waiting_per_pod * 10 + 1e-9) / 10)
    assert (t.slo_ttft_ms, t.slo_itl_ms, t.notes) == (500, 40, ())
    spec = yaml.safe_load(hpa(d, t))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (t.min_replicas, t.max_replicas)
    assert "0.04" in alerts(t) and "stream_timeout: 1.0" in litellm(d, t)


def test_cli_bad_fallback_and_form() -> None:
    code, out, err = _cli("--emit", "litellm", "--fallback", "gpt-4o-mnii")
    assert code == 2 and out == "" and "gpt-4o-mini" in err
    code, _, err = _cli("--emit", "dashbord")
    assert code == 2 and "dashboard" in err
