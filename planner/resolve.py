"""One resolution path: what the user gave -> one immutable `Inputs` -> `estimate_from(inputs)`.

What the user gives is MODEL or a pasted `vllm serve` command (with environment words such as
VLLM_USE_V1=0 in front), a device (--gpu NAME or --device cpu, --gpu-memory-gib), vLLM flags, the
release and engine, --quant, and how to reach the model (revision, token, offline). `estimate`,
`plan`, `check` and `validate` all turn it into an `Inputs` here, so one command line means the same
everywhere; the release rules (vllm_versions.rules_for) read the engine from the environment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import gpu_catalog
from gpu_catalog import Gpu
from planner import memory
from planner.errors import PlannerError
from planner.memory.estimator import Estimate, estimate
from planner.memory.spec import model_spec_from_config
from planner.redact import remember
from planner.release.engine_args import EngineArgs, check_release
from planner.release.serve_args import ServeCommand, find_launcher, parse_serve_argv, split_command
from planner.release.vllm_versions import LATEST, VersionRules, rules_for
from planner.sourcing.loader import LoadedModel, load_model, prequantized_variant


def split_model_and_flags(extra: list[str]) -> tuple[str | None, list[str]]:
    """(MODEL, serve argv) from the words the CLI did not consume.

    A pasted command is passed through whole: whatever a shell would run (`vllm serve M ...`, a path to
    vllm, `python3.11 -m vllm.entrypoints...`, behind `env`/`sudo`/`nohup`/`exec`/`time` and `VAR=value`
    words), also as one quoted string. Otherwise the first word not starting with '-' is MODEL and the
    rest are serve flags.
    """
    if len(extra) == 1 and any(c.isspace() for c in extra[0]):
        extra = split_command(extra[0])          # the whole command pasted as one argument
    head = extra[0].rsplit("/", 1)[-1] if extra else ""
    program = head in ("vllm", "env", "sudo", "nohup", "exec", "time") or head.startswith("python")
    if extra and (program or find_launcher(extra) is not None
                  or ("=" in extra[0] and not extra[0].startswith("-"))):
        return None, list(extra)
    for i, word in enumerate(extra):
        if not word.startswith("-"):
            # A value of a preceding flag is not MODEL: only a word at position 0 or after a word that
            # is itself a value can be. Keep it simple: MODEL must come first when flags are inline.
            if i == 0:
                return word, ["vllm", "serve", word, *extra[1:]]
            break
    return None, ["vllm", "serve", *extra]


# More memory than any device vLLM runs on (a CPU node's NUMA memory included): 1 PiB, in GiB.
MAX_DEVICE_GIB = 2.0**20
# Less than any device: 1 MiB. A positive value far below it (1e-308 GiB) made every share of the device
# infinite (an OverflowError in the memory bar), not an answer.
MIN_DEVICE_GIB = 2.0**-10


def check_device_memory(gpu_memory_gib: float | None) -> None:
    """--gpu-memory-gib is a device's memory: finite, and neither below nor beyond any device."""
    if gpu_memory_gib is not None and not (MIN_DEVICE_GIB <= gpu_memory_gib <= MAX_DEVICE_GIB
                                           and math.isfinite(gpu_memory_gib)):
        raise PlannerError(f"--gpu-memory-gib must be a device's memory in GiB, got {gpu_memory_gib:g}",
                           hint=f"a number in [{MIN_DEVICE_GIB:g}, {MAX_DEVICE_GIB:.0f}]")


def parse_invocation(extra: list[str], model: str | None, version: str, *, usage: str) -> tuple[str, ServeCommand]:
    """(MODEL, ServeCommand) from a command's leftover words, refusing flags the release does not have.

    Shared by estimate, plan and validate so that one pasted command means the same everywhere.
    """
    if model is not None:
        argv = ["vllm", "serve", model, *extra]
    else:
        model, argv = split_model_and_flags(extra)
    cmd = parse_serve_argv(argv, version=version, read_config=True, what_if=True)
    bad = [f for f in cmd.flags if f.status != "ok"]
    if bad:
        f = bad[0]
        raise PlannerError(f"{f.written}: {f.message or 'not a vllm serve option in vLLM ' + version}",
                           code="unknown_flag", hint=f.hint, flag=f.written if f.status == "unknown" else None)
    if cmd.unknown:
        raise PlannerError(f"unexpected argument {cmd.unknown[0]!r}", hint=usage)
    ref = cmd.model or model
    if not ref:
        raise PlannerError("no MODEL given", hint=usage)
    return ref, cmd


def vllm_env(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The environment words that change what vLLM does (VLLM_*), sorted: the rest cannot matter."""
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith("VLLM_")))


@dataclass(frozen=True)
class Inputs:
    """Everything one estimate depends on, resolved and frozen."""

    model: LoadedModel
    gpu: Gpu
    args: EngineArgs
    rules: VersionRules
    env: tuple[tuple[str, str], ...] = ()       # VLLM_* words of the vLLM process (see vllm_env)
    quant: str | None = None                    # --quant: the scheme to size (None: the checkpoint's)
    gpu_memory_gib: float | None = None         # --gpu-memory-gib: the device total, overriding the catalog
    cpu_amx: bool = False                       # the CPU backend's host has AMX tiles (picks the MLA kernel)
    draft: LoadedModel | None = None            # the draft model / EAGLE head --speculative-config names

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def device(self) -> str:
        return "cpu" if self.gpu.vendor == "cpu" else "cuda"


def load_draft(model: LoadedModel, args: EngineArgs, *, offline: bool | None = True, token: str | None = None,
               required: bool = False) -> LoadedModel | None:
    """The draft model or EAGLE head --speculative-config names, loaded like a model (offline by default:
    the catalog and the Hub cache). A draft model that cannot be loaded is an error when `required`; an
    EAGLE head falls back to the estimate's stated assumption (a target-shaped layer)."""
    if not args.wants_speculative:
        return None
    cfg = getattr(model, "config", None)
    if not isinstance(cfg, dict):
        return None
    ref = memory.spec_decode.draft_reference(args, model_spec_from_config(cfg, name=model.name), model.repo_id)
    if ref is None:
        return None
    method, name = ref
    try:
        return load_model(name, offline=offline, token=token)
    except PlannerError:
        if required and method == "draft_model":
            raise
        return None


def make_inputs(model: LoadedModel, gpu: Gpu, args: EngineArgs | None = None, *, vllm_version: str | None = None,
                vllm_engine: str | None = None, env: Mapping[str, str] | None = None, quant: str | None = None,
                gpu_memory_gib: float | None = None, cpu_amx: bool = False,
                draft: LoadedModel | None = None) -> Inputs:
    """Inputs from parts already resolved (check and validate find the model and GPU their own way); a draft
    model not given is looked up offline."""
    words = vllm_env(env or {})
    rules = rules_for(vllm_version or LATEST, vllm_engine, env=dict(words))
    args = args or EngineArgs()
    check_release(args, rules.version)
    if draft is None:
        draft = load_draft(model, args)
    return Inputs(model=model, gpu=gpu, args=args, rules=rules, env=words, quant=quant,
                  gpu_memory_gib=gpu_memory_gib, cpu_amx=cpu_amx, draft=draft)


def resolve_device(gpu: str | None, device: str | None, gpu_memory_gib: float | None,
                   cmd: ServeCommand) -> Gpu:
    """--gpu / --device / --gpu-memory-gib -> the device the estimate runs on."""
    if device == "cpu":
        if gpu_memory_gib is None and cmd.args.kv_cache_memory_bytes is None \
                and "VLLM_CPU_KVCACHE_SPACE" not in cmd.env:
            raise PlannerError("--device cpu needs the KV size: --kv-cache-memory-bytes, VLLM_CPU_KVCACHE_SPACE, "
                               "or --gpu-memory-gib for the NUMA node's memory")
        return gpu_catalog.cpu_device(gpu_memory_gib or 8.0)
    if device not in (None, "cuda", "gpu"):
        raise PlannerError(f"--device must be cuda or cpu, got {device!r}")
    if not gpu:
        raise PlannerError("--gpu is required", hint="e.g. --gpu H100, or --device cpu")
    return gpu_catalog.resolve(gpu)


def resolve_inputs(extra: list[str], *, gpu: str | None, device: str | None = None,
                   gpu_memory_gib: float | None = None, quant: str | None = None, vllm_version: str | None = None,
                   vllm_engine: str | None = None, revision: str | None = None, offline: bool = False,
                   progress: bool = False, model: str | None = None, token: str | None = None,
                   usage: str = "planner estimate MODEL --gpu H100, or -- vllm serve MODEL ...") -> Inputs:
    """A command line's words (MODEL and flags, or a pasted command) and options -> Inputs."""
    remember(token)                          # never echoed, whatever fails below
    check_device_memory(gpu_memory_gib)
    version = vllm_version or LATEST
    rules_for(version, vllm_engine)          # an unknown release or engine is bad input, before any work
    ref, cmd = parse_invocation(extra, model, version, usage=usage)
    dev = resolve_device(gpu, device, gpu_memory_gib, cmd)
    loaded = load_model(ref, revision=revision, offline=offline or None, token=token, progress=progress)
    requested_quant = quant or cmd.args.quantization
    if requested_quant:
        loaded = prequantized_variant(loaded, requested_quant) or loaded
    amx = False
    if device == "cpu":
        amx = memory.cpu_backend.read_host_cpu().amx   # picks the CPU MLA kernel, and so its block size
    draft = load_draft(loaded, cmd.args, offline=offline or None, token=token, required=True)
    return make_inputs(loaded, dev, cmd.args, vllm_version=version, vllm_engine=vllm_engine, env=cmd.env,
                       quant=quant, gpu_memory_gib=gpu_memory_gib if device != "cpu" else None, cpu_amx=amx,
                       draft=draft)


def estimate_from(inputs: Inputs) -> Estimate:
    """The memory model's answer for these inputs."""
    return estimate(inputs.model, inputs.gpu, inputs.args, vllm_version=inputs.rules.version,
                    vllm_engine=inputs.rules.engine, quant=inputs.quant, env=inputs.env_dict,
                    gpu_memory_gib=inputs.gpu_memory_gib, cpu_amx=inputs.cpu_amx, draft=inputs.draft)
