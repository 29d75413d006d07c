"""planner.validate.launch: process-group lifecycle with real child processes, readiness, stages,
launcher resolution and histogram quantiles. (Real vLLM launches are in tests/e2e/test_validate_cpu.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.validate.launch import (
    StartupTimeout,
    VllmCommand,
    VllmServer,
    free_port,
    group_alive,
    histogram_quantile,
    resolve_vllm_command,
)

# A "server" that ignores SIGTERM and starts a grandchild that ignores it too: only SIGKILL to the whole
# process group stops both.
STUBBORN = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    print("child", child.pid, flush=True)
    time.sleep(600)
""")

# A health endpoint that turns healthy after a delay and logs like vLLM does on the way.
HEALTHY_LATER = textwrap.dedent("""
    import http.server, sys, time
    port = int(sys.argv[1])
    print("INFO [cpu_model_runner.py:68] Starting to load model /m...", flush=True)
    print("INFO [cpu_worker.py:260] Explicitly set (0.12/7.71) GiB for KV cache on node 0.", flush=True)
    time.sleep(0.5)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404); self.end_headers()
        def log_message(self, *a): pass
    print("INFO:     Application startup complete.", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
""")


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_kills_the_whole_group_after_the_grace_period(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    server = VllmServer(argv=[sys.executable, "-c", STUBBORN], log_path=log, port=free_port(), grace_seconds=0.5)
    with server:
        deadline = time.monotonic() + 20
        while "child" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(log.read_text().split()[1])
        pgid = server.proc.pid  # type: ignore[union-attr]
        assert group_alive(pgid) and pid_alive(child)
    assert not group_alive(pgid)
    assert not pid_alive(child) and server.proc.poll() is not None  # type: ignore[union-attr]


def test_wait_ready_reports_stages_in_order(tmp_path: Path) -> None:
    port = free_port()
    stages: list[str] = []
    with VllmServer(argv=[sys.executable, "-c", HEALTHY_LATER, str(port)], log_path=tmp_path / "h.log",
                    port=port, on_stage=stages.append) as server:
        assert server.wait_ready(timeout=30) is True
    assert stages[0] == "loading weights" and stages[-1] == "ready"
    assert "allocating KV cache" in stages
    assert len(stages) == len(set(stages))


def test_wait_ready_false_when_the_process_dies(tmp_path: Path) -> None:
    with VllmServer(argv=[sys.executable, "-c", "print('ValueError: boom'); raise SystemExit(3)"],
                    log_path=tmp_path / "d.log", port=free_port()) as server:
        assert server.wait_ready(timeout=30) is False
    assert "boom" in (tmp_path / "d.log").read_text()


def test_timeout_raises_and_the_context_still_stops(tmp_path: Path) -> None:
    server = VllmServer(argv=[sys.executable, "-c", "import time; time.sleep(600)"], log_path=tmp_path / "t.log",
                        port=free_port(), grace_seconds=1)
    with pytest.raises(StartupTimeout), server:
        server.wait_ready(timeout=0.5)
    assert server.proc is not None and server.proc.poll() is not None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_the_planner_stops_the_server(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM (kill, systemd) and SIGHUP (the SSH session dropped) end the planner and the vLLM group."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from planner.validate.launch import VllmServer
        with VllmServer(argv=[sys.executable, "-c", "import time; time.sleep(600)"],
                        log_path=Path({str(tmp_path / 'x.log')!r}), port=1, grace_seconds=1) as s:
            Path({str(tmp_path / 'pgid')!r}).write_text(str(s.proc.pid))
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent.parent)
    pgid_file = tmp_path / "pgid"
    deadline = time.monotonic() + 30
    while not pgid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pgid = int(pgid_file.read_text())
    assert group_alive(pgid)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert not group_alive(pgid)


def test_resolve_vllm_cmd_module_entry_takes_model_flag() -> None:
    cmd = resolve_vllm_command(vllm_cmd=f"{sys.executable} -m vllm.entrypoints.openai.api_server")
    assert cmd.model_flag and cmd.python == sys.executable
    assert cmd.argv(["vllm", "serve", "/m", "--max-model-len", "512"]) == \
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", "/m", "--max-model-len", "512"]


def test_resolve_vllm_env_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PlannerError) as err:
        resolve_vllm_command(vllm_env=str(tmp_path))
    assert err.value.code == "vllm_not_found"
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    exe = venv / "bin" / "vllm"
    exe.write_text(f"#!{sys.executable}\n")
    exe.chmod(0o755)
    cmd = resolve_vllm_command(vllm_env=str(venv))
    assert cmd == VllmCommand((str(exe), "serve"), model_flag=False, python=str(venv / "bin" / "python"))
    assert cmd.argv(["vllm", "serve", "org/m", "--port", "1"]) == [str(exe), "serve", "org/m", "--port", "1"]
    # Found on PATH: its shebang names the interpreter whose metadata gives the version.
    monkeypatch.setenv("PATH", str(venv / "bin") + os.pathsep + os.environ["PATH"])
    assert resolve_vllm_command().python == sys.executable
    exe.write_text("#!/usr/bin/env python3\n")
    assert resolve_vllm_command(vllm_env=str(venv)).argv(["vllm", "serve", "m"]) == [str(exe), "serve", "m"]
    from planner.validate.launch import _python_of_script

    assert Path(_python_of_script(str(exe)) or "").name.startswith("python3")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert resolve_vllm_command(fallback_env=venv).prefix == (str(exe), "serve")
    with pytest.raises(PlannerError, match="not on PATH"):
        resolve_vllm_command(fallback_env=tmp_path / "nope")


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 2.0), (0.5, 6.0), (1.0, 10.0), (float("inf"), 10.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (5 - 2) / 4)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.5 + 0.5 * (9.5 - 6) / 4)
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    # Everything in the +Inf bucket: the largest finite bound is the best answer.
    assert histogram_quantile(0.5, [(1.0, 0.0), (float("inf"), 4.0)]) == 1.0
