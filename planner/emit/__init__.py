"""Ready-to-run output for a chosen plan (`planner plan --emit`): vllm serve, docker, compose, k8s, all.

Each emitter is a pure function `Deployment -> str`. Values from the plan are shell-quoted (commands)
or `$`-escaped (manifests) so none can inject; secrets are referenced, never written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from planner.emit.deployment import Deployment, app_name
from planner.emit.folder import FILES, render_all, write_all
from planner.emit.manifests import compose, k8s
from planner.emit.shell import NOT_APPLICABLE, docker_run, serve_argv, vllm_serve
from planner.errors import PlannerError, did_you_mean

Form = Literal["vllm", "docker", "compose", "k8s"]
FORMS: tuple[str, ...] = get_args(Form)

_EMITTERS: dict[str, Callable[[Deployment], str]] = {
    "vllm": vllm_serve,
    "docker": docker_run,
    "compose": compose,
    "k8s": k8s,
}


def emit(d: Deployment, form: Form | str) -> str:
    """The text of one form. `all` is not a text: it is a folder (`write_all`)."""
    emitter = _EMITTERS.get(form)
    if emitter is None:
        if form == "all":
            raise PlannerError("--emit all writes a folder of files, not one text", code="emit_form",
                               hint="give a folder to write into")
        hint = did_you_mean(str(form), [*FORMS, "all"]) or "choose from " + ", ".join([*FORMS, "all"])
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
    return out


__all__ = [
    "FILES",
    "FORMS",
    "Deployment",
    "Form",
    "app_name",
    "commands",
    "compose",
    "docker_run",
    "emit",
    "k8s",
    "render_all",
    "serve_argv",
    "vllm_serve",
    "write_all",
]
