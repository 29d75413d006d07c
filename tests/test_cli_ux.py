"""A newcomer's first commands (issue 15, the CLI side): --version, -h, usage lines with MODEL, choices
instead of types, whole summaries, examples that run, `planner flags`, 80-column output measured line by
line (piped), verbatim vLLM log lines, NO_COLOR and non-TTY, `models show` without internal paths, shell
completion, and the user config file with flags winning.

In-process through click's runner (the same group `main` as `python -m planner`), except where only a
real process shows it: a pipe's width, a pseudo-terminal's colour, the shell-completion protocol.
Offline throughout (HF_HUB_OFFLINE=1, catalog aliases); the config home is an empty folder
(tests/conftest.py) unless a test writes its own file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from planner import cli_help, user_config
from planner.cli import app, help_redirect
from planner.release import flag_docs
from planner.release.vllm_flags import ever_existed, flags_of
from planner.release.vllm_versions import LATEST
from planner.rendering import term

ROOT = Path(__file__).resolve().parents[1]
CHECK_BROKEN = ROOT / "tests" / "data" / "check" / "broken"
ANSI = re.compile(r"\x1b\[")
OFFLINE = {"HF_HUB_OFFLINE": "1", "VLLM_PLANNER_MODEL_CATALOG": None, "VLLM_PLANNER_GPU_CATALOG": None}


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Any:
    r = CliRunner().invoke(app, list(args), env={**OFFLINE, "COLUMNS": "80", **(env or {})})
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


def process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m planner ARGS` with stdout a pipe (not a terminal)."""
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    for k in ("VLLM_PLANNER_MODEL_CATALOG", "VLLM_PLANNER_GPU_CATALOG", "NO_COLOR", "FORCE_COLOR"):
        if k not in (env or {}):
            full.pop(k, None)
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=120,
                          env=full, cwd=cwd or ROOT, check=False)


def all_command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as argv prefixes: (), ("estimate",), ("models", "show"), ..."""
    root = typer.main.get_command(app)
    out: list[tuple[str, ...]] = [()]

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            if sub.hidden:
                continue
            out.append((*path, name))
            walk(sub, (*path, name))

    walk(root, ())
    return out


COMMAND_PATHS = all_command_paths()


# ------------------------------------------------------------------------------------------- version, -h


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_names_the_package_and_the_default_vllm_release(flag: str) -> None:
    r = invoke(flag)
    assert r.exit_code == 0
    from importlib.metadata import version

    assert r.stdout.startswith(f"vllm-planner {version('vllm-planner')}\n")
    assert f"vLLM {LATEST} by default" in r.stdout


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "planner")
def test_h_is_help_everywhere(path: tuple[str, ...]) -> None:
    short, long = invoke(*path, "-h"), invoke(*path, "--help")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and short.stdout.startswith("Usage: planner")
    assert "-h, --help" in short.stdout


def test_every_command_is_described_by_the_help_table() -> None:
    """A command added without an entry in planner/cli_help.COMMANDS would have no examples: fail here."""
    missing = [" ".join(p) for p in COMMAND_PATHS if " ".join(p) not in cli_help.COMMANDS]
    assert missing == []


# ------------------------------------------------------------------------------------------- help content


@pytest.mark.parametrize("command", ["estimate", "plan", "perf"])
def test_usage_shows_model_and_the_pasted_form(command: str) -> None:
    out = invoke(command, "--help").stdout.splitlines()
    assert out[0] == f"Usage: planner {command} [OPTIONS] MODEL [VLLM FLAGS]..."
    assert out[1] == f"   or: planner {command} [OPTIONS] -- vllm serve MODEL [VLLM FLAGS]..."
    text = "\n".join(out)
    assert "\n  MODEL  " in text and "\n  VLLM FLAGS  " in text      # explained under Arguments


@pytest.mark.parametrize(("path", "usage"), [
    (("validate",), "Usage: planner validate [OPTIONS] MODEL [VLLM FLAGS]..."),
    (("check",), "Usage: planner check [OPTIONS] [PATH]..."),
    (("gpus",), "Usage: planner gpus [OPTIONS] [QUERY]"),
    (("models", "show"), "Usage: planner models show [OPTIONS] ALIAS"),
    (("flags",), "Usage: planner flags [OPTIONS] [NAME]"),
])
def test_usage_lines_name_the_arguments(path: tuple[str, ...], usage: str) -> None:
    assert invoke(*path, "--help").stdout.splitlines()[0] == usage


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "planner")
def test_help_has_examples_fits_80_columns_and_shows_no_types(path: tuple[str, ...]) -> None:
    out = invoke(*path, "--help").stdout
    examples = out[out.index("\nExamples:\n"):].splitlines()[1:]
    commands = [line for line in examples if line.startswith("  $ ")]
    assert 1 <= len(commands) <= 3, out
    assert all("planner " in c for c in commands)
    # A long example continues with the shell's ` \`: joined back, it is the example as written.
    printed = "\n".join(examples).replace(" \\\n      ", " ")
    for line, _ in cli_help.COMMANDS[" ".join(path)].examples:
        assert f"  $ {line}\n" in printed + "\n", line
    assert [line for line in out.splitlines() if len(line) > 80] == []
    assert not re.search(r"<(str|int|float|path|bool|list\[[a-z]+\])>", out), out
    assert "{" not in out.splitlines()[0]          # typer's `{alias}` for a required argument


def test_choices_are_shown_instead_of_types() -> None:
    assert "--format [human|json|github|junit]" in invoke("check", "--help").stdout
    est = invoke("estimate", "--help").stdout
    assert "--device [cuda|cpu]" in est and "--vllm-engine [v0|v1]" in est and "--gpu GPU" in est
    plan = invoke("plan", "--help").stdout
    assert "--objective [gpus|cost|kv]" in plan and "--emit [vllm|docker|compose|k8s|all]" in plan
    assert "--device [auto|cuda|cpu]" in invoke("validate", "--help").stdout


def test_root_summaries_are_whole() -> None:
    out = invoke("--help").stdout
    section = out[out.index("\nCommands:\n"):out.index("\nExamples:\n")]
    assert "..." not in section
    for name in ("estimate", "plan", "perf", "cost", "check", "validate", "gpus", "models", "flags"):
        summary = cli_help.COMMANDS[name].summary
        assert f"  {name}" in section and summary in " ".join(section.split()), name


def _runnable_examples() -> list[str]:
    """Help examples that need no file, launch nothing and write nothing: they must run as printed."""
    out = []
    for key, info in cli_help.COMMANDS.items():
        for line, _ in info.examples:
            first = key.split(" ")[0]
            if first in ("check", "validate") or any(c in line for c in "|><") or "--emit" in line:
                continue
            out.append(line)
    return sorted(set(out))


@pytest.mark.parametrize("line", _runnable_examples())
def test_help_examples_run_as_printed(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    monkeypatch.chdir(tmp_path)
    # huggingface_hub reads HF_HUB_OFFLINE when first imported (maybe by an earlier test): set it there too.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    words = shlex.split(line)
    assert words[0] == "planner"
    r = invoke(*words[1:], env={"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert r.exit_code in (0, 1), (line, r.stderr[-400:])
    assert "error" not in r.stderr.lower(), (line, r.stderr[-400:])


def test_the_plan_k8s_example_emits_a_manifest() -> None:
    r = invoke("plan", "llama-3.1-8b", "--gpu", "L4", "--context", "32k", "--emit", "k8s")
    assert r.exit_code == 0 and "kind: Deployment" in r.stdout


# ------------------------------------------------------------------------------------------- planner flags


def test_flags_lists_every_flag_of_the_release_and_stars_the_modelled_ones() -> None:
    r = invoke("flags", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["vllm_version"] == LATEST
    assert [f["name"] for f in doc["flags"]] == [f.name for f in flags_of(LATEST)]
    starred = {f["name"] for f in doc["flags"] if f["modelled"]}
    assert {"--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--kv-cache-dtype",
            "--tensor-parallel-size", "--enforce-eager", "--kv-cache-memory-bytes"} <= starred
    assert "--chat-template" not in starred
    human = invoke("flags").stdout
    assert "* --max-model-len " in human and "  --chat-template " in human
    assert "* --tensor-parallel-size, -tp " in human
    only = invoke("flags", "--modelled").stdout
    rows = [line for line in only.splitlines() if line.startswith(("* ", "  --"))]
    assert rows and all(line.startswith("* ") for line in rows)


def test_flags_of_an_older_release() -> None:
    old = json.loads(invoke("flags", "--vllm-version", "0.10.1.1", "--json").stdout)
    names = {f["name"] for f in old["flags"]}
    assert "--swap-space" in names and "--kv-cache-memory-bytes" not in names


def test_every_explained_flag_exists_in_some_release() -> None:
    assert [name for name in flag_docs.EFFECTS if not ever_existed(name)] == []


@pytest.mark.parametrize("spelling", ["max-model-len", "--max-model-len", "--max_model_len", "max_model_len",
                                      "max-model"])
def test_flag_explanation(spelling: str) -> None:
    r = invoke("flags", spelling)
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"--max-model-len  (vLLM {LATEST})\n")
    for label in ("takes:", "default:", "releases:", "memory:", "performance:"):
        assert f"\n  {label}" in out, label
    flat = " ".join(out.split())
    assert "auto / -1" in flat and "every extracted release" in flat and "Maximum concurrency" in flat


def test_flag_explanation_json_has_default_from_the_release_rules() -> None:
    new = json.loads(invoke("flags", "gpu-memory-utilization", "--json").stdout)["flag"]
    old = json.loads(invoke("flags", "gpu-memory-utilization", "--vllm-version", "0.19.0", "--json").stdout)["flag"]
    assert new["default"].startswith("0.92") and old["default"].startswith("0.9 ")
    assert new["modelled"] and new["takes"] == "a number" and new["status"] == "ok"
    assert "--device-memory-utilization" in new["spellings"] or new["spellings"] == ["--gpu-memory-utilization"]


def test_short_alias_and_removed_flag() -> None:
    tp = json.loads(invoke("flags", "tp", "--json").stdout)["flag"]
    assert tp["name"] == "--tensor-parallel-size" and "-tp" in tp["spellings"]
    gone = invoke("flags", "swap-space")
    assert gone.exit_code == 0
    assert "removed in vLLM 0.18.0" in gone.stdout and "not modelled" in gone.stdout
    there = json.loads(invoke("flags", "swap-space", "--vllm-version", "0.10.1.1", "--json").stdout)["flag"]
    assert there["status"] == "ok" and "0.10.1.1" in there["releases"]


def test_a_flag_the_model_does_not_read_says_so() -> None:
    r = invoke("flags", "chat-template")
    assert r.exit_code == 0 and flag_docs.NOT_MODELLED in " ".join(r.stdout.split())
    assert "memory:" not in r.stdout


def test_unknown_flag_is_exit_2_with_a_suggestion() -> None:
    r = invoke("flags", "max-model-lenn")
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "--max-model-lenn" in lines[0] and "did you mean --max-model-len" in lines[0]
    j = invoke("flags", "max-model-lenn", "--json")
    assert j.exit_code == 2 and json.loads(j.stdout)["error"]["code"] == "unknown_flag"


def test_vllm_help_equals_maps_to_flags() -> None:
    assert invoke("estimate", "--help=max-model-len").stdout == invoke("flags", "max-model-len").stdout
    assert invoke("plan", "llama-3.1-8b", "--help=all").stdout == invoke("flags").stdout
    old = invoke("perf", "--vllm-version", "0.10.1.1", "--help=swap-space")
    assert old.exit_code == 0 and "(vLLM 0.10.1.1)" in old.stdout
    assert invoke("estimate", "--help=no-such-flag").exit_code == 2
    # After `--` the words are vLLM's: a pasted command's own --help=... is not ours.
    assert help_redirect(["estimate", "--gpu", "H100", "--", "vllm", "serve", "m", "--help=all"]) is None


# ------------------------------------------------------------------------------------------- 80 columns


def _widths(text: str) -> list[int]:
    return [len(line) for line in text.splitlines()]


@pytest.mark.parametrize("args", [("models",), ("gpus",), ("flags",), ("models", "show", "qwen3-30b-a3b")])
def test_listings_fit_80_columns_when_piped(args: tuple[str, ...]) -> None:
    proc = process(*args, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert max(_widths(proc.stdout)) <= 80
    assert not ANSI.search(proc.stdout)


def test_piped_listings_default_to_80_columns() -> None:
    proc = process("models")            # no COLUMNS: a pipe is laid out for 80
    assert proc.returncode == 0 and max(_widths(proc.stdout)) <= 80


def test_models_table_keeps_every_repo_id_whole() -> None:
    import model_catalog

    out = invoke("models").stdout
    for e in model_catalog.all_entries(None):
        assert re.search(rf"(^|\s){re.escape(e.default_repo)}(\s|$)", out, re.M), e.default_repo
    wide = invoke("models", env={"COLUMNS": "200"}).stdout
    row = next(line for line in wide.splitlines() if line.startswith("llama-3.1-8b "))
    assert "meta-llama/Llama-3.1-8B-Instruct" in row          # wide enough: one row per model


def test_check_findings_wrap_at_word_boundaries() -> None:
    proc = process("check", str(CHECK_BROKEN), env={"COLUMNS": "80"})
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    # A finding's lines fit; only a single word longer than the line may overflow it.
    over = [line for line in lines if len(line) > 80 and " " in line.strip() and not line.startswith(str(ROOT))
            and not line.startswith("tests/")]
    assert over == []
    # Words are never cut: every word of every message and fix is whole in the human report.
    report = json.loads(process("check", str(CHECK_BROKEN), "--format", "json").stdout)
    words = set(proc.stdout.split())
    for f in (f for file in report["files"] for f in file["findings"]):
        for word in (f["message"] + " " + (f.get("hint") or "")).split():
            assert word in words, (word, f["rule"])


def test_vllm_log_lines_are_never_wrapped() -> None:
    r = invoke("estimate", "llama-3.1-8b", "--gpu", "L4", "--max-model-len", "16k", env={"COLUMNS": "40"})
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    kv = [line for line in lines if line.startswith("GPU KV cache size: ")]
    assert len(kv) == 1 and re.fullmatch(r"GPU KV cache size: [\d,]+ tokens", kv[0]), kv  # vLLM's line exactly
    assert any(re.fullmatch(r"Maximum concurrency for 16,000 tokens per request: [\d.]+x", x) for x in lines)
    assert any(re.fullmatch(r"Available KV cache memory: [\d.]+ GiB", x) for x in lines)
    # The planner's own lines do wrap to the 40 columns (between settings, never inside one).
    own = [x for x in lines if x and not x.startswith(("GPU KV", "Maximum", "Available", "WWW"))]
    assert max(len(x.rstrip()) for x in own) <= 40, own
    assert "max_num_batched_tokens 2,048" in r.stdout
    plan = invoke("plan", "llama-3.1-8b", "--gpu", "L4", "--context", "16k", env={"COLUMNS": "40"})
    assert any(re.fullmatch(r"Maximum concurrency for 16,000 tokens per request: [\d.]+x", x)
               for x in plan.stdout.splitlines())


def test_memory_bar_has_a_legend_without_colour() -> None:
    out = invoke("estimate", "llama-3.1-8b", "--gpu", "H100").stdout
    lines = out.splitlines()
    for letter, label in (("W", "weights"), ("A", "activation peak"), ("N", "non-torch"),
                          ("G", "CUDA graphs (est.)"), ("K", "KV cache"), (".", "outside the budget")):
        assert any(re.match(rf"{re.escape(letter)}\s+{re.escape(label)}\s", x) for x in lines), label
    bar = next(x for x in lines if re.fullmatch(r"[WANGK.]{20,}", x.strip()))
    assert bar.count("W") > 0 and bar.count("K") > 0
    assert not ANSI.search(out)


# ------------------------------------------------------------------------------------------- colour


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """The output of `python -m planner ARGS` with stdout a pseudo-terminal."""
    import pty

    master, slave = pty.openpty()
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    full.update({"HF_HUB_OFFLINE": "1", "COLUMNS": "100", "TERM": "xterm-256color", **env})
    proc = subprocess.Popen([sys.executable, "-m", "planner", *args], stdout=slave, stderr=subprocess.DEVNULL,
                            env=full, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_no_color_means_no_ansi_codes_even_on_a_terminal() -> None:
    args = ["estimate", "llama-3.1-8b", "--gpu", "H100"]
    assert ANSI.search(_run_on_a_terminal(args, {}))              # the terminal gets colour (the test sees it)
    plain = _run_on_a_terminal(args, {"NO_COLOR": "1"})
    assert "GPU KV cache size" in plain and not ANSI.search(plain)
    assert not ANSI.search(_run_on_a_terminal(["gpus"], {"NO_COLOR": "1"}))
    assert not ANSI.search(_run_on_a_terminal(["models"], {"TERM": "dumb"}))


def test_piped_output_has_no_ansi_codes() -> None:
    for args in (("estimate", "llama-3.1-8b", "--gpu", "H100"), ("check", str(CHECK_BROKEN)), ("gpus",)):
        assert not ANSI.search(process(*args).stdout), args
    assert ANSI.search(process("gpus", env={"FORCE_COLOR": "1"}).stdout)


# ------------------------------------------------------------------------------------------- models show


def test_models_show_prints_no_internal_paths_or_notes() -> None:
    import model_catalog

    for e in model_catalog.all_entries(None):
        out = invoke("models", "show", e.alias).stdout
        assert "../shared" not in out and "INDEX.md" not in out and "source:" not in out, e.alias
        assert "config from" not in out and "reference/" not in out, e.alias
        assert e.default_repo in out and f"https://huggingface.co/{e.default_repo}" in out
        for label in ("parameters:", "context:", "architecture:", "dtype:", "license:"):
            assert f"  {label}" in out, (e.alias, label)


# ------------------------------------------------------------------------------------------- completion


def test_completion_is_on() -> None:
    out = invoke("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize(("words", "cword", "expected"), [
    ("planner check --format ", 3, {"human", "json", "github", "junit"}),
    ("planner estimate --gpu H10", 3, {"H100", "H100-SXM-80GB"}),
    ("planner models show llama-3.1-", 3, {"llama-3.1-8b", "llama-3.1-70b"}),
    ("planner flags max-model", 2, {"max-model-len"}),
    ("planner est", 1, {"estimate"}),
])
def test_shell_completion(words: str, cword: int, expected: set[str]) -> None:
    """The protocol the script of `planner --show-completion` speaks, through the installed `planner`."""
    script = Path(sys.executable).with_name("planner")
    if not script.exists():
        pytest.skip("no installed planner script next to the interpreter")
    env = {**os.environ, "_PLANNER_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=60, env=env, check=False)
    got = set(proc.stdout.split())
    assert expected <= got, (proc.stdout, proc.stderr[-300:])


# ------------------------------------------------------------------------------------------- config file


def _config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    path = home / "vllm-planner" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return path


def _gpu_and_version(*args: str) -> tuple[str, str]:
    r = invoke(*args, "--json")
    assert r.exit_code in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    return doc["gpu"]["id"], doc["vllm"]["version"]


def test_config_defaults_and_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, 'gpu = "L4"\nvllm_version = "0.19.0"\n\n[plan]\ngpu = "H100"\n', monkeypatch)
    assert _gpu_and_version("estimate", "llama-3.1-8b") == ("L4-24GB", "0.19.0")
    assert _gpu_and_version("estimate", "llama-3.1-8b", "--gpu", "A10G") == ("A10G-24GB", "0.19.0")
    assert _gpu_and_version("estimate", "llama-3.1-8b", "--vllm-version", "0.33.0") == ("L4-24GB", "0.33.0")
    assert _gpu_and_version("plan", "llama-3.1-8b") == ("H100-SXM-80GB", "0.19.0")     # [plan] wins there
    assert _gpu_and_version("plan", "llama-3.1-8b", "--gpu", "L4") == ("L4-24GB", "0.19.0")


def test_no_config_file_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing-here"))
    assert user_config.load() is user_config.EMPTY
    assert invoke("estimate", "llama-3.1-8b").exit_code == 2           # --gpu is required, as without a file


def test_planner_config_env_points_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, 'gpu = "L4"\n', monkeypatch)
    other = tmp_path / "ci.toml"
    other.write_text('gpu = "A10G"\n', encoding="utf-8")
    monkeypatch.setenv("PLANNER_CONFIG", str(other))
    assert _gpu_and_version("estimate", "llama-3.1-8b")[0] == "A10G-24GB"
    monkeypatch.setenv("PLANNER_CONFIG", "")                         # empty: no file at all
    assert invoke("estimate", "llama-3.1-8b").exit_code == 2
    monkeypatch.setenv("PLANNER_CONFIG", str(tmp_path / "missing.toml"))
    r = invoke("gpus")
    assert r.exit_code == 2 and "missing.toml" in r.stderr and "does not exist" in r.stderr


@pytest.mark.parametrize(("text", "needles"), [
    ('gpu = "L4"\nvllm_version = "0.19\n', ("line 2", "not valid TOML")),
    ('gpu = "L4"\n\nvllm_versio = "0.19.0"\n', ("line 3", "unknown key 'vllm_versio'", "did you mean vllm_version")),
    ('vllm_version = 0.19\n', ("line 1", "vllm_version must be a non-empty string")),
    ('offline = "yes"\n', ("line 1", "offline must be true or false")),
    ('device = "gpu"\n', ("line 1", "device must be one of cuda, cpu")),
    ('vllm_version = "latest"\n', ("line 1", "is not a vLLM release")),
    ('[plan]\ngpu = "L4"\nobjective = "cost"\n', ("line 3", "unknown key 'plan.objective'")),
    ('[estimat]\ngpu = "L4"\n', ("unknown key 'estimat'", "did you mean [estimate]")),
])
def test_config_errors_name_the_file_and_line(text: str, needles: tuple[str, ...], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, text, monkeypatch)
    r = invoke("estimate", "llama-3.1-8b", "--gpu", "H100")
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"planner: error: {path}")
    for n in needles:
        assert n in lines[0], (n, lines[0])
    j = invoke("estimate", "llama-3.1-8b", "--gpu", "H100", "--json")
    assert j.exit_code == 2 and json.loads(j.stdout)["error"]["code"] == "config"
    # Help and --version still work, so the way out can be read.
    assert invoke("--help").exit_code == 0 and invoke("estimate", "-h").exit_code == 0
    assert invoke("--version").exit_code == 0


def test_config_keys_apply_only_where_they_mean_the_same() -> None:
    cfg = user_config.UserConfig(None, {"gpu": "L4", "vllm_version": "0.19.0", "offline": True}, {})
    assert cfg.defaults_for("validate") == {"gpu": "L4", "offline": True}     # validate: the launched release
    assert cfg.default_map(["estimate", "gpus"])["estimate"]["vllm_version"] == "0.19.0"


def test_docs_describe_the_config_keys() -> None:
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    for key in user_config.KEYS:
        assert f"`{key}`" in doc, key
    assert "PLANNER_CONFIG" in doc and "XDG_CONFIG_HOME" in doc and "NO_COLOR" in doc


# ------------------------------------------------------------------------------------------- layout helpers


def test_wrap_never_cuts_a_word() -> None:
    text = "use vllm/vllm-openai:v0.33.0 or https://huggingface.co/meta-llama/Llama-3.1-70B-Instruct today"
    lines = term.wrap(text, 30, indent=4)
    assert " ".join(" ".join(lines).split()) == text
    assert all(len(x) <= 30 or " " not in x.strip() for x in lines)


def test_wrap_keeps_a_span_whole() -> None:
    snippet = "HEALTHCHECK CMD curl -f http://localhost:8000/health || exit 1"
    text = f"fix: add {snippet} to the image"
    loose = term.wrap(text, 40, indent=2)
    assert not any(snippet in line for line in loose)                 # without `keep` it is broken at spaces
    kept = term.wrap(text, 40, indent=2, keep=[snippet])
    assert any(line.strip() == snippet for line in kept)               # longer than the line: a line of its own
    assert " ".join(" ".join(kept).split()) == text
    assert term.wrap("use --max-model-len 8192 here", 22, keep=["--max-model-len 8192"]) == [
        "use", "--max-model-len 8192", "here"]


def test_wrap_lines_hangs_each_line_under_its_own_indent() -> None:
    lines = term.wrap_lines(["What bounds it:", "  " + " ".join(["word"] * 20), "", "  short"], 30)
    assert lines[0] == "What bounds it:" and lines[-1] == "  short" and "" in lines
    wrapped = lines[1:lines.index("")]
    assert len(wrapped) > 1 and wrapped[0].startswith("  word") and all(x.startswith("    word") for x in wrapped[1:])
    assert all(len(x) <= 30 for x in lines)


def test_table_spills_and_wraps_to_fit() -> None:
    cols = (term.Column("name"), term.Column("repo", spill=True), term.Column("tags", wrap=True))
    rows = [("a" * 20, "org/" + "r" * 40, "one two three four five six"), ("b", "org/x", "-")]
    header, body = term.table(cols, rows, 40)
    assert header == ["name" + " " * 18 + "tags", "    repo"]
    assert all(len(x) <= 40 or " " not in x.strip() for x in header + body)   # one long word may overflow
    assert "    org/" + "r" * 40 in body and ("a" * 20 + "  one two three four") in body
    wide_header, wide = term.table(cols, rows, 200)
    assert len(wide) == 2 and len(wide_header) == 1                   # fits: one line per row


def test_pack_keeps_items_whole() -> None:
    items = ["max_model_len 131,072", "max_num_seqs 256", "max_num_batched_tokens 2,048"]
    assert term.pack(items, 42) == ["max_model_len 131,072 · max_num_seqs 256 ·", "max_num_batched_tokens 2,048"]
    # The closing separator counts: at 41 columns the second item starts the next line.
    assert term.pack(items, 41) == ["max_model_len 131,072 ·", "max_num_seqs 256 ·", "max_num_batched_tokens 2,048"]
    # An item longer than the line is wrapped at its spaces, not left to overflow.
    assert all(len(x) <= 12 for x in term.pack(["one two three four"], 12))
