"""Every form by name: `emit(d, form)` and `commands(d)` (the `commands` of `plan --json`), and the k8s
form that picks a LeaderWorkerSet for a replica over several nodes.

Apart from planner/emit/__init__.py so that a plain plan, which prints only the `vllm serve` command,
imports none of the other emitters (tests/test_imports.py NOT_ON_A_PLAIN_PLAN).
"""

from __future__ import annotations

from collections.abc import Callable

from planner.emit.alert_rules import alerts, prometheus_rule
from planner.emit.autoscaling import hpa
from planner.emit.deployment import Deployment, is_multinode
from planner.emit.gateway import litellm
from planner.emit.grafana import dashboard
from planner.emit.manifests import compose
from planner.emit.manifests import k8s as _k8s_single
from planner.emit.multinode import lws, node_commands, vllm_nodes
from planner.emit.names import ALL_FORMS, Form, OpsForm
from planner.emit.ops import OpsTargets, ops_targets
from planner.emit.shell import NOT_APPLICABLE, docker_run
from planner.emit.shell import vllm_serve as _vllm_single
from planner.errors import PlannerError, did_you_mean


def vllm_serve(d: Deployment, *, one_line: bool = False) -> str:
    """The `vllm serve` command; for a replica over several nodes, every node's command (planner.emit.multinode)."""
    return vllm_nodes(d, one_line=one_line) if is_multinode(d) else _vllm_single(d, one_line=one_line)


def k8s(d: Deployment, targets: OpsTargets | None = None) -> str:
    """Deployment + Service + HPA; for a replica over several nodes, a LeaderWorkerSet alone."""
    return lws(d) if is_multinode(d) else _k8s_single(d, targets)


_EMITTERS: dict[str, Callable[[Deployment], str]] = {
    "vllm": vllm_serve,
    "docker": docker_run,
    "compose": compose,
    "k8s": k8s,
}
_OPS_EMITTERS: dict[str, Callable[[Deployment, OpsTargets], str]] = {
    "hpa": hpa,
    "alerts": lambda _d, t: alerts(t),
    "prometheus-rule": lambda _d, t: prometheus_rule(t),
    "dashboard": lambda _d, t: dashboard(t),
    "litellm": litellm,
}


def emit(d: Deployment, form: Form | OpsForm | str, targets: OpsTargets | None = None) -> str:
    """The text of one form. `all` is not a text: it is a folder (`write_all`). The operations forms (and
    the k8s form's HPA) use `targets`, by default ops_targets(d) (no workload: stated defaults)."""
    if form in _OPS_EMITTERS:
        return _OPS_EMITTERS[form](d, targets if targets is not None else ops_targets(d))
    if form == "k8s":
        return k8s(d, targets)
    emitter = _EMITTERS.get(form)
    if emitter is None:
        if form == "all":
            raise PlannerError("--emit all writes a folder of files, not one text", code="emit_form",
                               hint="give a folder to write into")
        hint = did_you_mean(str(form), [*ALL_FORMS, "all"]) or "choose from " + ", ".join([*ALL_FORMS, "all"])
        raise PlannerError(f"unknown --emit form {form!r}", code="emit_form", hint=hint)
    return emitter(d)


def commands(d: Deployment) -> dict[str, str]:
    """Every form that applies to `d` as text (the `commands` of `--json`).

    The container forms apply to NVIDIA GPUs on one node only; for other plans they are left out
    rather than failing the whole output.
    """
    out: dict[str, str] = {}
    for form, emitter in _EMITTERS.items():
        try:
            out[form] = emitter(d)
        except PlannerError as exc:
            if exc.code not in NOT_APPLICABLE:
                raise
    if is_multinode(d):
        # Each node's command on its own too (`vllm` holds them all, with comments).
        out.update({f"node-{nc.rank}": nc.text for nc in node_commands(d)})
    return out
