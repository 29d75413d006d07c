"""Pasted commands as people write them, `--config FILE.yaml`, emitted names through bash, and secrets.

Issue 11 (pasted commands, secrets) and issue 14 (`--config`, redirected repo ids). The shell round trip
runs the emitted `vllm serve` line through a real bash with `vllm` defined as a function that prints its
argv, and parses that argv with the planner's argparse-faithful parser: what vLLM would receive.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from test_emit_cases import catalog_gpu
from typer.testing import CliRunner

import model_catalog
from planner.cli import app
from planner.commands.estimate import parse_invocation
from planner.emit import Deployment, compose, docker_run, k8s, vllm_serve
from planner.errors import PlannerError
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv, split_command
from tools.generators import PASTED_FORMS, secret_forms, secrets

RUNNER = CliRunner()
USAGE = "usage"


# ---- pasted command forms ------------------------------------------------------------------------

@pytest.mark.parametrize("words", PASTED_FORMS)
def test_what_a_shell_would_run_is_accepted(words: list[str]) -> None:
    ref, cmd = parse_invocation(words, None, "0.33.0", usage=USAGE)
    assert ref == "m" and cmd.args.tensor_parallel_size == 2  # type: ignore[attr-defined]


def test_shell_operators_and_redirections_end_or_leave_the_command() -> None:
    assert split_command("vllm serve m --port 8001 >> log 2>&1 & echo started") == [
        "vllm", "serve", "m", "--port", "8001"]
    # Quoted operators are values, not operators.
    assert split_command("vllm serve m --chat-template '{% if a | b %}'")[-1] == "{% if a | b %}"


def test_a_program_that_is_not_vllm_is_still_refused() -> None:
    with pytest.raises(PlannerError, match="not a vLLM server command"):
        parse_invocation(["sudo", "bash", "run.sh"], None, "0.33.0", usage=USAGE)


# ---- --served-model-name through bash -----------------------------------------------------------

NAMES = ["my model", "it's", 'a "b" c', "$HOME", "x; rm -rf /", "tab\there", "ünï code", "*"]


def _bash_argv(line: str) -> list[str]:
    """The argv `vllm` receives when bash runs `line` (vllm is a function printing its arguments)."""
    script = "vllm() { printf '%s\\0' \"$@\"; }\nexport VLLM_API_KEY=from-env\n" + line
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=20).stdout
    return out.decode().split("\0")[:-1]


def _dep(**changes: object) -> Deployment:
    base: dict[str, object] = dict(model="org/model", vllm_version="0.33.0", gpu=catalog_gpu("H100-SXM-80GB"),
                                   num_gpus=1,
                                   args=EngineArgs(gpu_memory_utilization=0.9, max_model_len=4096, max_num_seqs=8))
    base.update(changes)
    return Deployment(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_served_name_reaches_vllm_as_one_unquoted_name(name: str) -> None:
    cmd = parse_serve_argv(["vllm", "serve", "org/model", "--served-model-name", name])
    # The passthrough path (a pasted name) and the Deployment field (plan's choice) both hold.
    for d in (_dep(args=_dep().args.with_(passthrough=cmd.args.passthrough)), _dep(served_model_name=name)):
        argv = _bash_argv(vllm_serve(d))
        got = parse_serve_argv(argv).flag("served_model_name")
        assert got is not None and shlex.split(got.value or "") == [name]


@pytest.mark.parametrize("name", ["my model", "it's"])
def test_plan_emits_the_pasted_served_name_once_quoted(name: str) -> None:
    res = RUNNER.invoke(app, ["plan", "llama-3.1-8b", "--gpu", "H100", "--offline", "--served-model-name", name,
                              "--emit", "vllm"])
    assert res.exit_code == 0, res.output
    line = res.stdout[res.stdout.rindex("vllm serve "):]
    served = parse_serve_argv(_bash_argv(line)).flag("served_model_name")
    assert served is not None and shlex.split(served.value or "") == [name]


# ---- --config FILE.yaml -------------------------------------------------------------------------

def _cfg(tmp_path: Path, text: str, name: str = "c.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_config_file_in_either_spelling_and_the_command_line_wins(tmp_path: Path) -> None:
    f = _cfg(tmp_path, "tensor_parallel_size: 2\nmax-model-len: 8192\nenforce-eager: true\n"
                       "enable-prefix-caching: false\ncompilation-config:\n  mode: 3\n")
    a = parse_serve_argv(["vllm", "serve", "m", "--config", f], read_config=True).args
    assert (a.tensor_parallel_size, a.max_model_len, a.enforce_eager, a.enable_prefix_caching) == (2, 8192, True,
                                                                                                   False)
    assert dict(a.passthrough)["--compilation-config"] == '{"mode": 3}'
    cli = parse_serve_argv(["vllm", "serve", "m", "--config", f, "-tp", "4"], read_config=True).args
    assert cli.tensor_parallel_size == 4


def test_config_false_with_underscores_is_dropped_as_vllm_drops_it(tmp_path: Path) -> None:
    """0.33.0 adds `--no-KEY` only when that exact spelling is registered: `--no-enable_prefix_caching`
    is not, so the setting is silently not applied (vLLM's behaviour, mirrored)."""
    f = _cfg(tmp_path, "enable_prefix_caching: false\n")
    assert parse_serve_argv(["vllm", "serve", "m", "--config", f], read_config=True).args.enable_prefix_caching \
        is None


def test_config_on_0_6_uses_that_release_rules(tmp_path: Path) -> None:
    f = _cfg(tmp_path, "enable-chunked-prefill: false\nblock-size: 32\n")
    a = parse_serve_argv(["vllm", "serve", "m", "--config", f], "0.6.6.post1", read_config=True).args
    assert a.enable_chunked_prefill is False and a.block_size == 32


def test_model_from_the_config(tmp_path: Path) -> None:
    f = _cfg(tmp_path, "model: org/from-config\n")
    assert parse_serve_argv(["vllm", "serve", "--config", f], read_config=True).model == "org/from-config"


@pytest.mark.parametrize(("text", "name"), [
    (None, "missing.yaml"), ("a: [1,\n", "c.yaml"), ("- just\n- a list\n", "c.yaml"), ("x: 1\n", "c.json"),
    ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n", "c.yaml"),
])
def test_a_config_that_cannot_be_read_is_exit_2(tmp_path: Path, text: str | None, name: str) -> None:
    f = _cfg(tmp_path, text, name) if text is not None else str(tmp_path / name)
    res = RUNNER.invoke(app, ["estimate", "--gpu", "H100", "--offline", "--", "vllm", "serve", "llama-3.1-8b",
                              "--config", f])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read" in lines[0], res.stderr


def test_check_keeps_config_as_a_flag_by_default() -> None:
    """A file named in a manifest lives in the image: only estimate/plan/validate read it."""
    cmd = parse_serve_argv(["vllm", "serve", "m", "--config", "/in/the/image.yaml"])
    assert dict(cmd.args.passthrough)["--config"] == "/in/the/image.yaml"


# ---- redirected repo ids ------------------------------------------------------------------------

@pytest.mark.parametrize(("old", "now"), [
    ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
    ("meta-llama/Meta-Llama-3.1-70B", "meta-llama/Llama-3.1-70B"),
    ("meta-llama/Meta-Llama-3.1-405B-Instruct-FP8", "meta-llama/Llama-3.1-405B-Instruct-FP8"),
])
def test_redirected_repo_ids_resolve_offline(old: str, now: str) -> None:
    hit = model_catalog.lookup(old)
    assert hit is not None and hit.repo_id == now
    res = RUNNER.invoke(app, ["estimate", old, "--gpu", "H200", "--offline", "-tp", "8", "--json"])
    assert res.exit_code in (0, 1), res.output


# ---- secrets ------------------------------------------------------------------------------------

_secrets, _forms = secrets, secret_forms


@pytest.mark.parametrize("secret", _secrets(8))
def test_no_secret_in_any_output_or_file(tmp_path: Path, secret: str) -> None:
    for i, args in enumerate(_forms(secret, tmp_path / "out")):
        res = RUNNER.invoke(app, args)
        assert res.exit_code in (0, 1, 2), (args, res.output)
        assert secret not in res.stdout and secret not in res.stderr, (i, res.stdout[-400:], res.stderr)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files, "--emit all wrote nothing"
    for p in files:
        assert secret not in p.read_text(errors="replace"), p


def test_api_key_is_referenced_not_written() -> None:
    d = _dep(args=_dep().args.with_(passthrough=(("--api-key", "sk-verysecret"),)))
    argv = _bash_argv(vllm_serve(d))
    assert parse_serve_argv(argv).flag("api_key").value == "from-env"  # type: ignore[union-attr]
    assert "-e VLLM_API_KEY" in docker_run(d)
    assert "${VLLM_API_KEY:?" in compose(d)
    manifest = k8s(d)
    assert "secretKeyRef" in manifest and "vllm-api-key" in manifest and "sk-verysecret" not in manifest


def test_remembered_secrets_do_not_outlive_their_command() -> None:
    """A secret value that is an ordinary word (`--api-key auto`) must not mask later commands' errors."""
    RUNNER.invoke(app, ["estimate", "--gpu", "H100", "--offline", "--", "vllm", "serve", "nope/none",
                        "--api-key", "llama"])
    res = RUNNER.invoke(app, ["estimate", "llama-3.1-8bx", "--gpu", "H100", "--offline"])
    assert res.exit_code == 2 and "llama-3.1-8bx" in res.stderr
