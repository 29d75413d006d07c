"""Ready-to-run output for a chosen plan (`planner plan --emit`): vllm serve, docker, compose, k8s, all;
and what operations need beside it: hpa, alerts, prometheus-rule, dashboard, litellm.

Each deployment emitter is a pure function `Deployment -> str`; the operations emitters also take the
OpsTargets (planner/emit/ops.py: replicas, queue target, SLO, fallback) as plain numbers. Values from the
plan are shell-quoted (commands) or `$`-escaped (manifests) so none can inject; secrets are referenced,
never written.

The names below load on first use (PEP 562 `__getattr__`): a plain `planner plan` prints only the
`vllm serve` command of a single-node replica, and importing the other emitters (the operations forms
and their prices, the manifests, the multi-node layouts) cost it a few milliseconds of its start-up
budget (issue 11; tests/test_imports.py NOT_ON_A_PLAIN_PLAN).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from planner.emit.deployment import Deployment, app_name, is_multinode
from planner.emit.names import ALL_FORMS, FORMS, OPS_FORMS, Form, OpsForm
from planner.emit.shell import vllm_serve as _vllm_single

if TYPE_CHECKING:
    from planner.emit.alert_rules import alerts, prometheus_rule
    from planner.emit.autoscaling import hpa
    from planner.emit.folder import FILES, render_all, write_all
    from planner.emit.forms import commands, emit, k8s
    from planner.emit.gateway import litellm
    from planner.emit.grafana import dashboard
    from planner.emit.manifests import compose
    from planner.emit.multinode import lws, node_commands, node_layout
    from planner.emit.ops import OpsLoad, OpsTargets, ops_targets
    from planner.emit.shell import docker_run, serve_argv

# Each lazily loaded name -> the module that defines it (the TYPE_CHECKING imports above, for mypy and the
# import graph, name the same ones: tests/test_emit.py checks that every name of __all__ resolves).
_LAZY = {
    "alerts": "planner.emit.alert_rules", "prometheus_rule": "planner.emit.alert_rules",
    "dashboard": "planner.emit.grafana",
    "FILES": "planner.emit.folder", "render_all": "planner.emit.folder", "write_all": "planner.emit.folder",
    "commands": "planner.emit.forms", "emit": "planner.emit.forms", "k8s": "planner.emit.forms",
    "litellm": "planner.emit.gateway",
    "hpa": "planner.emit.autoscaling",
    "compose": "planner.emit.manifests",
    "lws": "planner.emit.multinode", "node_commands": "planner.emit.multinode",
    "node_layout": "planner.emit.multinode", "vllm_nodes": "planner.emit.multinode",
    "OpsLoad": "planner.emit.ops", "OpsTargets": "planner.emit.ops", "ops_targets": "planner.emit.ops",
    "docker_run": "planner.emit.shell", "serve_argv": "planner.emit.shell",
}


def __getattr__(name: str) -> Any:
    """`planner.emit.NAME` for the names of _LAZY: imported on first use, then kept as a module global."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def vllm_serve(d: Deployment, *, one_line: bool = False) -> str:
    """The `vllm serve` command; for a replica over several nodes, every node's command (planner.emit.multinode,
    loaded only then)."""
    if is_multinode(d):
        return str(__getattr__("vllm_nodes")(d, one_line=one_line))
    return _vllm_single(d, one_line=one_line)


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
