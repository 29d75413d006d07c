"""What the emitters render: one chosen plan, resolved to the values vLLM will be started with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gpu_catalog import Gpu
from planner.errors import PlannerError
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import LATEST

# Kubernetes Service names must be RFC 1035 labels (start with a letter); Deployment and HPA names
# accept the wider RFC 1123 subdomain, so the RFC 1035 label is the rule that fits all three.
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# Released versions, the only ones with a `vllm/vllm-openai:v<version>` tag (0.10.1.1 has four parts).
_RELEASE = re.compile(r"v?\d+(\.\d+){1,3}")
# POSIX portable environment variable names: the only names `NAME=value cmd` and `-e NAME` can carry.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Secrets are referenced (from the shell environment or a Kubernetes Secret), never written out. Matched
# as whole `_` words, so vLLM's own knobs such as VLLM_MAX_TOKENS_PER_EXPERT_FP4_MOE or
# VLLM_..._TOKEN_THRESHOLD (vllm/envs.py) still pass.
_SECRET_ENV = re.compile(
    r"(?:^|_)(?:TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|PASSWORD|PASSWD|CREDENTIALS?)$|(?:^|_)SECRET(?:_|$)",
    re.IGNORECASE,
)


def app_name(model: str) -> str:
    """A DNS-1035 label for the app, from the model's last path component.

    `meta-llama/Llama-3.1-70B-Instruct` -> `llama-3-1-70b-instruct`; names that would not start with a
    letter get a `vllm-` prefix; at most 63 characters (the Kubernetes limit for Service names).
    """
    base = model.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"vllm-{slug}" if slug else "vllm"
    return slug[:63].rstrip("-")


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """A resolved plan: the model vLLM serves, the engine args, the target version and the hardware."""

    model: str                          # repo id or path vLLM serves (pre-quantized for awq/gptq/nvfp4)
    args: EngineArgs                    # resolved: TP, PP, utilization, max_model_len, max_num_seqs filled
    vllm_version: str                   # target release (e.g. vllm_versions.LATEST); pins the image tag
    gpu: Gpu
    num_gpus: int                       # per replica, = TP x PP (x DP when vLLM runs data parallel)
    served_model_name: str | None = None
    env: dict[str, str] = field(default_factory=dict)   # VLLM_* etc.; never secrets
    hf_token_required: bool = False     # gated repo: HF_TOKEN must be present at start
    port: int = 8000                    # where clients reach the server (host port / Service port)
    name: str = ""                      # DNS-1035 app name; derived from the model when empty
    # The HPA's maximum and queue target when the plan has no workload (planner.emit.ops: a capacity plan
    # replaces both). Starting points to tune, not derived facts: vLLM queues a request only when the
    # batch is full, so a few waiting per pod means saturation.
    max_replicas: int = 4
    waiting_per_pod: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise PlannerError("the model to serve is empty", code="emit_bad_model")
        if "\0" in self.model or (self.served_model_name is not None and "\0" in self.served_model_name):
            raise PlannerError("the model name contains a NUL byte", code="emit_bad_model")
        if self.model.startswith("-"):
            # argparse would read it as an option, whatever the quoting.
            raise PlannerError(f"model {self.model!r} starts with '-'", code="emit_bad_model",
                               hint="give a local path as ./" + self.model)
        if self.served_model_name is not None and (
            not self.served_model_name.strip() or self.served_model_name.startswith("-")
        ):
            raise PlannerError(f"invalid served model name {self.served_model_name!r}",
                               code="emit_bad_served_name", hint="use a name that does not start with '-'")
        if not _RELEASE.fullmatch(str(self.vllm_version)):
            raise PlannerError(
                f"vLLM version {self.vllm_version!r} has no released image tag",
                code="emit_bad_version",
                hint=f"give a release such as {LATEST}",
            )
        a = self.args
        # One `vllm serve` with internal data parallelism drives TP x PP GPUs per DP rank.
        world = a.tensor_parallel_size * a.pipeline_parallel_size * a.data_parallel_size
        if self.num_gpus != world:
            raise PlannerError(
                f"num_gpus={self.num_gpus} does not match tensor x pipeline (x data) parallel size = {world}",
                code="emit_gpu_count",
            )
        if not 1 <= self.port <= 65535:
            raise PlannerError(f"port {self.port} is outside 1..65535", code="emit_bad_port")
        if self.max_replicas < 1 or self.waiting_per_pod < 1:
            raise PlannerError("max_replicas and waiting_per_pod must be positive", code="emit_bad_hpa")
        for key, value in self.env.items():
            if not _ENV_NAME.fullmatch(key):
                raise PlannerError(f"invalid environment variable name {key!r}", code="emit_bad_env",
                                   hint="names are letters, digits and '_', not starting with a digit")
            if _SECRET_ENV.search(key):
                raise PlannerError(
                    f"environment variable {key} looks like a secret and would be printed",
                    code="emit_secret_env",
                    hint="secrets are read from the environment (HF_TOKEN) or a Kubernetes Secret",
                )
            if not isinstance(value, str) or "\0" in value:
                raise PlannerError(f"environment variable {key}: value must be text without NUL bytes",
                                   code="emit_bad_env")
        if not self.name:
            object.__setattr__(self, "name", app_name(self.model))
        elif not _DNS_1035.fullmatch(self.name):
            raise PlannerError(
                f"app name {self.name!r} is not a DNS-1035 label",
                code="emit_bad_name",
                hint=f"lower-case letters, digits and '-', from a letter, e.g. {app_name(self.name)}",
            )

    @property
    def image(self) -> str:
        """The vLLM OpenAI server image, pinned to the target release (tags are `v<version>`)."""
        return f"vllm/vllm-openai:v{self.vllm_version.removeprefix('v')}"


def is_multinode(d: Deployment) -> bool:
    """Whether one replica spans several nodes (planner/emit/multinode.py renders those; here so that a
    plan on one node decides it without importing that module)."""
    return d.gpu.vendor != "cpu" and d.num_gpus > d.gpu.gpus_per_node
