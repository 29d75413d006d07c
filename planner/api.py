"""The Python API: `from planner import estimate, plan, perf, cost, check`.

Each function runs its command's own code path in this process, with the command's JSON output, and
returns that answer parsed into the JSON contract's pydantic model (planner.contract). One path means the
API and the CLI cannot disagree: a notebook gets exactly what `planner estimate --json` prints.

Bad input raises planner.errors.PlannerError (its `code`, message and `hint` are the CLI's error object).
A configuration that vLLM would refuse is an answer, not an exception: `fits` is False and `errors` says
why, as the CLI's exit 1 does.

vLLM flags go in `flags` with vLLM's spellings, e.g. `flags=["--max-model-len", "32768", "-tp", "2"]`;
`command` takes a whole pasted `vllm serve ...` line instead of MODEL and flags.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from typer.main import get_command

from planner.cli import app
from planner.contract import CheckDoc, CostDoc, EstimateDoc, PerfDoc, PlanDoc
from planner.errors import PlannerError

# This module loads only when the API is used (planner/__init__.py imports it lazily), so it may import
# pydantic and the CLI at the top: `import planner` and `planner --help` stay light.
M = TypeVar("M", bound=BaseModel)


def _option(name: str, value: object) -> list[str]:
    """`gpu_memory_gib=40` -> ["--gpu-memory-gib", "40"]; True -> the bare flag; None and False -> nothing."""
    flag = "--" + name.replace("_", "-")
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    return [flag, str(value)]


def _argv(command: str, model: str | None, flags: Sequence[str], pasted: str | None,
          options: dict[str, object]) -> list[str]:
    if pasted is not None and model is not None:
        raise PlannerError("give MODEL or command=, not both", code="bad_arguments")
    if pasted is None and model is None:
        raise PlannerError(f"{command}() needs a model (a catalog alias, a Hub repo id or a folder)",
                           code="bad_arguments", hint=f"e.g. planner.{command}('qwen3-8b', gpu='H100')")
    argv = [command]
    for name, value in options.items():
        argv += _option(name, value)
    if pasted is not None:
        return [*argv, "--json", "--", *shlex.split(pasted)]
    return [*argv, "--json", str(model), *flags]


def _run(argv: list[str], model: type[M]) -> M:
    """Run the CLI in this process on argv; parse its JSON answer into `model`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = get_command(app).main(args=argv, prog_name="planner", standalone_mode=False)
    text = out.getvalue()
    try:
        doc: dict[str, Any] = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        doc = {}
    if code == 2 or ("error" in doc and set(doc) <= {"schema_version", "error"}):
        body = doc.get("error") or {}
        message = body.get("message") or err.getvalue().strip().removeprefix("planner: error: ") or "bad input"
        raise PlannerError(message, code=body.get("code", "bad_input"), hint=body.get("hint"))
    return model.model_validate(doc)


def estimate(model: str | None = None, gpu: str | None = None, *, flags: Sequence[str] = (),
             command: str | None = None, device: str | None = None, gpu_memory_gib: float | None = None,
             quant: str | None = None, vllm_version: str | None = None, vllm_engine: str | None = None,
             revision: str | None = None, offline: bool = False, hf_token: str | None = None) -> EstimateDoc:
    """What vLLM will do at startup (`planner estimate --json`): memory per GPU, KV tokens, concurrency."""
    opts: dict[str, object] = dict(gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib, quant=quant,
                                   vllm_version=vllm_version,
                vllm_engine=vllm_engine, revision=revision, offline=offline, hf_token=hf_token)
    return _run(_argv("estimate", model, flags, command, opts), EstimateDoc)


def plan(model: str, gpu: str | None = None, *, flags: Sequence[str] = (), device: str | None = None,
         gpu_memory_gib: float | None = None, quant: str | None = None, vllm_version: str | None = None,
         objective: str | None = None, context: int | str | None = None, concurrency: int | None = None,
         num_gpus: int | None = None, max_gpus: int | None = None, revision: str | None = None,
         offline: bool = False, hf_token: str | None = None, **workload: object) -> PlanDoc:
    """A ranked deployment plan (`planner plan --json`). Workload options of `plan` pass as keywords
    in Python spelling, e.g. `request_rate="40"`, `random_input_len=1000`, `slo_ttft_ms=500`."""
    opts: dict[str, object] = dict(gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib, quant=quant,
                                   vllm_version=vllm_version, objective=objective, context=context,
                                   concurrency=concurrency, num_gpus=num_gpus, max_gpus=max_gpus,
                                   revision=revision, offline=offline, hf_token=hf_token, **workload)
    return _run(_argv("plan", model, flags, None, opts), PlanDoc)


def perf(model: str | None = None, gpu: str | None = None, *, flags: Sequence[str] = (),
         command: str | None = None, device: str | None = None, quant: str | None = None,
         vllm_version: str | None = None, offline: bool = False, **workload: object) -> PerfDoc:
    """What `vllm bench serve` would measure (`planner perf --json`). Workload options in Python
    spelling: `dataset_name`, `random_input_len`, `random_output_len`, `num_prompts`, `request_rate`,
    `max_concurrency`, `sweep="max-concurrency=1,4,16"`, ..."""
    opts: dict[str, object] = dict(gpu=gpu, device=device, quant=quant, vllm_version=vllm_version,
                                   offline=offline, **workload)
    return _run(_argv("perf", model, flags, command, opts), PerfDoc)


def cost(model: str, gpu: str | None = None, *, requests_per_month: int | str, input_len: int, output_len: int,
         api: str | None = None, api_price: tuple[float, float] | None = None, gpu_price: float | None = None,
         flags: Sequence[str] = (), quant: str | None = None, vllm_version: str | None = None,
         offline: bool = False, **options: object) -> CostDoc:
    """Self-hosting against a hosted API (`planner cost --json`): monthly cost both ways, break-even
    volume, replicas. Other `cost` options in Python spelling: `fixed_monthly=270`, `peak_to_average=2`,
    `provider="lambda"`, `slo_ttft_ms=500`, ..."""
    opts: dict[str, object] = dict(gpu=gpu, requests_per_month=requests_per_month, input_len=input_len,
                                   output_len=output_len, api=api,
                                   api_price=None if api_price is None else f"{api_price[0]},{api_price[1]}",
                                   gpu_price=gpu_price, quant=quant, vllm_version=vllm_version,
                                   offline=offline, **options)
    return _run(_argv("cost", model, flags, None, opts), CostDoc)


def check(*paths: str, gpu: str | None = None, vllm_version: str | None = None,
          strict: bool = False) -> CheckDoc:
    """The CI gate over deployment files (`planner check --format json`): findings per file."""
    if not paths:
        raise PlannerError("check() needs at least one file or folder", code="bad_arguments",
                           hint="e.g. planner.check('deploy/')")
    argv = ["check", *_option("gpu", gpu), *_option("vllm_version", vllm_version), *_option("strict", strict),
            "--format", "json", "--", *paths]
    return _run(argv, CheckDoc)
