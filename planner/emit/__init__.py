"""Ready-to-run output for a chosen plan (`planner plan --emit`): vllm serve, docker, compose, k8s, all;
and what operations need beside it: hpa, alerts, prometheus-rule, dashboard, litellm.

Each deployment emitter is a pure function `Deployment -> str`; the operations emitters also take the
OpsTargets (planner/emit/ops.py: replicas, queue target, SLO, fallback) as plain numbers. Values from the
plan are shell-quoted (commands) or `$`-escaped (manifests) so none can inject; secrets are referenced,
never written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from planner.emit.alerts import alerts, prometheus_rule
from planner.emit.dashboard import dashboard
from planner.emit.deployment import Deployment, app_name
from planner.emit.folder import FILES, render_all, write_all
from planner.emit.gateway import litellm
from planner.emit.hpa import hpa
from planner.emit.manifests import compose
from planner.emit.manifests import k8s as _k8s_single
from planner.emit.multinode import is_multinode, lws, node_commands, node_layout, vllm_nodes
from planner.emit.ops import OpsLoad, OpsTargets, ops_targets
from planner.emit.shell import NOT_APPLICABLE, docker_run, serve_argv
from planner.emit.shell import vllm_serve as _vllm_single
from planner.errors import PlannerError, did_you_mean

Form = Literal["vllm", "docker", "compose", "k8s"]


def vllm_serve(d: Deployment, *, one_line: bool = False) -> str:
    """The `vllm serve` command; for a replica over several nodes, every node's command (planner.emit.multinode)."""
    return vllm_nodes(d, one_line=one_line) if is_multinode(d) else _vllm_single(d, one_line=one_line)


def k8s(d: Deployment, targets: OpsTargets | None = None) -> str:
    """Deployment + Service + HPA; for a replica over several nodes, a LeaderWorkerSet alone."""
    return lws(d) if is_multinode(d) else _k8s_single(d, targets)


FORMS: tuple[str, ...] = get_args(Form)
OpsForm = Literal["hpa", "alerts", "prometheus-rule", "dashboard", "litellm"]
OPS_FORMS: tuple[str, ...] = get_args(OpsForm)
ALL_FORMS: tuple[str, ...] = (*FORMS, *OPS_FORMS)

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


__all__ = [
    "ALL_FORMS",
    "FILES",
    "FORMS",
    "OPS_FORMS",
    "Deployment",
    "Form",
    "OpsForm",
    "OpsLoad",
    "OpsTargets",
    "alerts",
    "app_name",
    "commands",
    "compose",
    "dashboard",
    "docker_run",
    "emit",
    "hpa",
    "is_multinode",
    "k8s",
    "litellm",
    "lws",
    "node_commands",
    "node_layout",
    "ops_targets",
    "prometheus_rule",
    "render_all",
    "serve_argv",
    "vllm_serve",
    "write_all",
]
