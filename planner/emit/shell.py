"""`vllm serve` and `docker run` command lines, safe to paste.

Every word that carries a value from the plan (model id, served name, flag values, env values) goes
through `shlex.quote`, so no value can end the word, start a second command or expand (`;`, `$()`,
quotes, newlines). The only unquoted words are fixed strings written here. Lines are joined by ` \\`
continuations (or one line), with no colour, box or trailing space, so the text copies from any terminal.
"""

from __future__ import annotations

import re
import shlex

from planner.emit.deployment import Deployment
from planner.errors import PlannerError
from planner.redact import ENV_FOR_DEST, SECRET_DESTS
from planner.release.serve_args import to_serve_argv
from planner.release.vllm_flags import flag_info

# Stated in every emitted command even at vLLM's default, so the plan is explicit (issue 4).
EXPLICIT = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "max_num_seqs")
API_KEY_ENV = ENV_FOR_DEST["api_key"]
# vLLM's default API port (FrontendArgs.port, vllm/entrypoints/common/cli_args.py, 0.33.0). Containers
# listen on it; the host port or Service port maps to it.
VLLM_PORT = 8000
# Where the vllm/vllm-openai image keeps the Hugging Face cache (it runs as root; HF_HOME is unset).
CONTAINER_HF_CACHE = "/root/.cache/huggingface"
HEALTH_URL = f"http://127.0.0.1:{VLLM_PORT}/health"
# The image always has python3 (vLLM runs on it); curl is not part of what vLLM needs, so the
# healthcheck does not count on it. urlopen raises on a refused connection and on any non-2xx answer;
# docker and Compose stop it after the healthcheck timeout.
HEALTH_PYTHON = f'import urllib.request as u; u.urlopen("{HEALTH_URL}")'
# Model loads (and first downloads) take minutes: failing health checks are not counted for this long.
HEALTH_START_PERIOD_S = 1800
# `--max-model-len -1` is a value, not an option: words that look like negative numbers stay on the
# line of the flag before them.
_NEGATIVE_NUMBER = re.compile(r"-\d[\d.]*")
_INDENT = "  "
# PlannerError codes meaning "this form does not apply to this plan" (the other forms still do).
NOT_APPLICABLE = ("emit_unsupported_gpu", "emit_multi_node")


def serve_argv(d: Deployment, *, port: int | None = None) -> list[str]:
    """["vllm", "serve", model, flags...] for `d`; `--port` only when `port` differs from vLLM's default.

    A `--port` in `d.args.passthrough` is replaced by the Deployment's port (containers always listen
    on vLLM's default), and `--served-model-name` by `d.served_model_name` when that is set (several
    names given in the passthrough are kept when it is not).
    """
    replaced = {"--port"} | ({"--served-model-name"} if d.served_model_name is not None else set())
    # Secret values (--api-key, --hf-token) are never written: each form references the environment
    # variable vLLM reads the same secret from (VLLM_API_KEY, HF_TOKEN) instead.
    passthrough = [(k, v) for k, v in d.args.passthrough if k not in replaced and _secret_dest(k, d) is None]
    if d.served_model_name is not None:
        # vLLM takes several names here (nargs="+"); a passthrough value of such a flag is the
        # shell-joined list (planner.release.serve_args), so one name is quoted to stay one name.
        info = flag_info("--served-model-name", d.vllm_version)
        many = info is not None and info.nargs == "+"
        name = shlex.quote(d.served_model_name) if many else d.served_model_name
        passthrough.append(("--served-model-name", name))
    if port is not None and port != VLLM_PORT:
        passthrough.append(("--port", str(port)))
    args = d.args.with_(passthrough=tuple(passthrough))
    # `explicit`: written even at vLLM's default; an unresolved (None) one is a PlannerError there.
    return to_serve_argv(d.model, args, d.vllm_version, explicit=EXPLICIT)


def _secret_dest(spelling: str, d: Deployment) -> str | None:
    info = flag_info(spelling, d.vllm_version)
    return info.dest if info is not None and info.dest in SECRET_DESTS else None


def api_key_required(d: Deployment) -> bool:
    """The plan serves with an API key (`--api-key` given): the forms read it from VLLM_API_KEY."""
    return any(_secret_dest(k, d) == "api_key" for k, _ in d.args.passthrough)


def _flag_groups(words: list[str]) -> list[list[str]]:
    """Split flags into one group per option with its values (for one line per flag)."""
    groups: list[list[str]] = []
    for w in words:
        if not groups or (w.startswith("-") and not _NEGATIVE_NUMBER.fullmatch(w)):
            groups.append([w])
        else:
            groups[-1].append(w)
    return groups


def render(head: list[list[str]], body: list[list[str]], *, one_line: bool = False) -> str:
    """Join shell-ready words: `head` lines flush left, `body` lines (one option each) indented,
    joined by ` \\` continuations, or all on one line."""
    if one_line:
        return " ".join(" ".join(words) for words in [*head, *body])
    return " \\\n".join([" ".join(w) for w in head] + [_INDENT + " ".join(w) for w in body])


def _q(words: list[str]) -> list[str]:
    return [shlex.quote(w) for w in words]


def _dquote(text: str) -> str:
    """Double-quote a fixed string for the shell (reads better than shlex.quote when it holds `'`)."""
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def vllm_serve(d: Deployment, *, one_line: bool = False) -> str:
    """The `vllm serve` command, env vars as `NAME=value` prefixes. HF_TOKEN comes from the environment."""
    argv = serve_argv(d, port=d.port)
    head = [[f"{k}={shlex.quote(v)}"] for k, v in sorted(d.env.items())]
    head.append(_q(argv[:3]))
    body = [_q(g) for g in _flag_groups(argv[3:])]
    if api_key_required(d):
        # A fixed string: the shell expands the caller's VLLM_API_KEY; the key itself is never printed.
        body.append(["--api-key", f'"${API_KEY_ENV}"'])
    return render(head, body, one_line=one_line)


def gpu_request(d: Deployment) -> str:
    """docker's `--gpus` value: `all` when the replica takes the whole node, else the first N devices."""
    if d.num_gpus >= d.gpu.gpus_per_node:
        return "all"
    # The inner double quotes are docker's syntax for a list (the comma would otherwise split options).
    return '"device=' + ",".join(str(i) for i in range(d.num_gpus)) + '"'


def require_container_target(d: Deployment, form: str) -> None:
    """The container forms use NVIDIA's runtime and device plugin, the CUDA image, and one node."""
    if d.gpu.vendor != "nvidia":
        raise PlannerError(
            f"--emit {form} targets NVIDIA GPUs; {d.gpu.id} is a {d.gpu.vendor} device",
            code="emit_unsupported_gpu",
            hint="use --emit vllm",
        )
    if d.num_gpus > d.gpu.gpus_per_node:
        raise PlannerError(
            f"--emit {form} runs one replica on one node, and {d.num_gpus} GPUs exceed the "
            f"{d.gpu.gpus_per_node} of a {d.gpu.id} node",
            code="emit_multi_node",
            hint="use --emit vllm (every node's command) or --emit k8s (a LeaderWorkerSet)",
        )


def docker_run(d: Deployment, *, one_line: bool = False) -> str:
    """`docker run` of the pinned vllm/vllm-openai image with the plan's serve flags.

    The entrypoint is set explicitly to `vllm serve`: the image's own ENTRYPOINT was
    `python3 -m vllm.entrypoints.openai.api_server` in older tags and `vllm serve` in current ones, and
    stating it makes the arguments mean the same for every tag.
    """
    require_container_target(d, "docker")
    argv = serve_argv(d)
    body: list[list[str]] = [
        ["--gpus", shlex.quote(gpu_request(d))],
        # NCCL and PyTorch workers share memory through /dev/shm; docker's default 64 MB is too small.
        ["--ipc=host"],
        ["-p", shlex.quote(f"{d.port}:{VLLM_PORT}")],
        # Unquoted on purpose: the shell expands `~` to the user's home (a fixed string, no plan value).
        ["-v", f"~/.cache/huggingface:{CONTAINER_HF_CACHE}"],
        # `-e NAME` without a value copies it from the caller's environment: the token is never written.
        ["-e", "HF_TOKEN"],
        # vLLM reads its API key from VLLM_API_KEY (vllm/envs.py) when --api-key is not given.
        *([["-e", API_KEY_ENV]] if api_key_required(d) else []),
    ]
    body += [["-e", shlex.quote(f"{k}={v}")] for k, v in sorted(d.env.items())]
    body += [
        ["--health-cmd", _dquote(f"python3 -c '{HEALTH_PYTHON}'")],
        ["--health-interval", "30s"],
        ["--health-timeout", "10s"],
        ["--health-retries", "3"],
        ["--health-start-period", f"{HEALTH_START_PERIOD_S}s"],
        ["--entrypoint", "vllm"],
        [shlex.quote(d.image)],
        _q(argv[1:3]),
    ]
    body += [_q(g) for g in _flag_groups(argv[3:])]
    # Foreground with --rm: the logs are on the terminal, and running the script again reuses the name.
    return render([["docker", "run", "--rm", "--name", shlex.quote(d.name)]], body, one_line=one_line)
