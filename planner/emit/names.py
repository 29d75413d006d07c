"""The names of the `--emit` forms: what `plan` checks a value against before any work, without loading
an emitter."""

from __future__ import annotations

from typing import Literal, get_args

Form = Literal["vllm", "docker", "compose", "k8s"]
FORMS: tuple[str, ...] = get_args(Form)
OpsForm = Literal["hpa", "alerts", "prometheus-rule", "dashboard", "litellm"]
OPS_FORMS: tuple[str, ...] = get_args(OpsForm)
ALL_FORMS: tuple[str, ...] = (*FORMS, *OPS_FORMS)
