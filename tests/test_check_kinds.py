"""Every file kind `planner check` reads, good, broken, not understood and unreadable (issue 11).

The table (tests/data/check/kinds/expected.tsv) is the contract of docs/check.md: a file named on the
command line passes (0) only when its vLLM launches were read and are fine; a launch that is wrong is
1; a file that mentions vLLM but whose launch could not be followed is a `not-understood` finding (1);
a file that cannot be parsed is "cannot read" (2). The generated tests then break every good file in
every way (cut short at each point, a byte changed, hostile text put in) and require one of those
answers, never a crash and never a silent pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import PlannerError
from planner.gate.rules import Settings
from planner.gate.run import check_paths
from planner.gate.yamlsrc import load_stream
from tools.generators import HOSTILE_TEXT, KINDS, good_kind_files, kinds_table

TABLE = [list(row) for row in kinds_table()]
GOOD = good_kind_files()
runner = CliRunner()


def _check(*paths: Path | str, stdin: str | None = None) -> object:
    return check_paths([str(p) for p in paths], stdin_text=stdin, settings=Settings())


def test_the_table_names_every_file_and_every_kind_has_each_outcome() -> None:
    on_disk = {str(p.relative_to(KINDS)) for p in KINDS.rglob("*") if p.is_file() and p.name != "expected.tsv"}
    assert on_disk == {row[0] for row in TABLE}
    kinds = {row[0].split("/")[0] for row in TABLE}
    for kind in ("kubernetes", "json", "compose", "dockerfile", "shell", "planner"):
        assert kind in kinds and {r[1] for r in TABLE if r[0].startswith(kind + "/")} >= {"0", "1", "2"}, kind


@pytest.mark.parametrize(("rel", "code", "what"), TABLE, ids=[row[0] for row in TABLE])
def test_kind_table(rel: str, code: str, what: str) -> None:
    res = runner.invoke(app, ["check", str(KINDS / rel), "--format", "json"])
    assert res.exit_code == int(code), res.stdout
    import json

    doc = json.loads(res.stdout)
    (entry,) = doc["files"]                       # a named file is always in the report
    if code == "2":
        assert entry["status"] == "unreadable" and entry["reason"].startswith(what), entry["reason"]
    elif code == "1":
        assert what in {f["rule"] for f in entry["findings"] if f["severity"] == "error"}
    else:
        assert entry["status"] == "checked" and entry["invocations"], entry
        assert not [f for f in entry["findings"] if f["severity"] == "error"]


def test_cannot_read_is_one_line_naming_the_file() -> None:
    res = runner.invoke(app, ["check", str(KINDS / "json" / "unreadable.json")])
    assert res.exit_code == 2
    (line,) = [ln for ln in res.stdout.splitlines() if "cannot read" in ln]
    assert line.startswith(f"cannot read {KINDS / 'json' / 'unreadable.json'}: not valid JSON")


def test_pyyaml_crash_reproducer_is_a_clean_cannot_read() -> None:
    res = runner.invoke(app, ["check", "-"], input="---\n!!int #vllm")
    assert res.exit_code == 2 and "internal error" not in res.output
    assert "cannot read <stdin>: line 2: bad int scalar" in res.stdout


def test_ignore_comment_silences_not_understood(tmp_path: Path) -> None:
    text = (KINDS / "helm-values" / "values.yaml").read_text() + "# planner: ignore=not-understood\n"
    p = tmp_path / "values.yaml"
    p.write_text(text)
    assert _check(p).exit_code == 0          # type: ignore[attr-defined]


# ---- folder walks: what is not read is said --------------------------------------------------------

def test_walk_states_what_it_skips_and_a_dangling_link_is_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "ok.sh").write_text((KINDS / "shell" / "good.sh").read_text())
    (tmp_path / "big.yaml").write_text("# vllm\n" + "a: 1\n" * (2 * 2**20))       # over 8 MiB
    (tmp_path / "latin1.sh").write_bytes(b"#!/bin/sh\n# caf\xe9\nvllm serve m --bogus\n")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 100)                             # silent
    os.symlink(tmp_path / "gone.yaml", tmp_path / "dangling.yaml")
    report = _check(tmp_path)
    by_name = {Path(r.path).name: r for r in report.files}                         # type: ignore[attr-defined]
    assert set(by_name) == {"ok.sh", "big.yaml", "latin1.sh", "dangling.yaml"}
    assert "larger than 8 MiB" in (by_name["big.yaml"].skipped or "")
    assert "not UTF-8" in (by_name["latin1.sh"].skipped or "")
    assert "dangling symbolic link" in (by_name["dangling.yaml"].skipped or "")
    assert report.exit_code == 0                                                    # type: ignore[attr-defined]
    res = runner.invoke(app, ["check", str(tmp_path)])
    assert "3 skipped" in res.stdout and res.exit_code == 0


def test_a_named_dangling_link_cannot_be_read(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.yaml", tmp_path / "d.yaml")
    report = _check(tmp_path / "d.yaml")
    assert report.exit_code == 2 and "dangling" in report.files[0].unreadable   # type: ignore[attr-defined]


# ---- launches a shell would run ----------------------------------------------------------------------

WRAPPED = ["for m in a b; do vllm serve org/m --bogus; done", "if true; then vllm serve org/m --bogus; fi",
           "while true\ndo\n  vllm serve org/m --bogus\ndone", "sudo -u svc -E vllm serve org/m --bogus",
           "X=$(vllm serve org/m --bogus)", 'echo "`vllm serve org/m --bogus`"', "nohup vllm serve org/m --bogus &",
           "exec vllm serve org/m --bogus", "time -p vllm serve org/m --bogus", "env -i VAR=x vllm serve org/m --bogus",
           "/usr/local/bin/vllm serve org/m --bogus", "bash -c 'vllm serve org/m --bogus'",
           "timeout 1h taskset -c 0-7 nice -n 5 vllm serve org/m --bogus", "! vllm serve org/m --bogus || exit 1"]


@pytest.mark.parametrize("line", WRAPPED)
@pytest.mark.parametrize("kind", ["shell", "dockerfile", "kubernetes"])
def test_wrapped_launch_is_seen(tmp_path: Path, kind: str, line: str) -> None:
    if kind == "shell":
        p = tmp_path / "run.sh"
        p.write_text("#!/bin/sh\n" + line + "\n")
    elif kind == "dockerfile":
        p = tmp_path / "Dockerfile"
        p.write_text("FROM vllm/vllm-openai:v0.33.0\nCMD " + line.replace("\n", "; ") + "\n")
    else:
        import json

        p = tmp_path / "d.yaml"
        p.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n  containers:\n    - name: v\n"
                     "      image: vllm/vllm-openai:v0.33.0\n"
                     f"      command: [/bin/sh, -c, {json.dumps(line)}]\n")
    report = _check(p)
    assert "flag-unknown" in {f.rule for f in report.findings}, line             # type: ignore[attr-defined]


@pytest.mark.parametrize("argv", [["sudo", "vllm", "serve"], ["nohup", "vllm", "serve"],
                                  ["env", "A=1", "vllm", "serve"], ["/usr/local/bin/vllm", "serve"],
                                  ["tini", "--", "vllm", "serve"]])
def test_wrapped_k8s_command_is_seen(tmp_path: Path, argv: list[str]) -> None:
    import json

    p = tmp_path / "d.yaml"
    p.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n  containers:\n    - name: v\n"
                 f"      image: vllm/vllm-openai:v0.33.0\n      command: {json.dumps(argv)}\n"
                 "      args: [org/m, --bogus]\n")
    assert "flag-unknown" in {f.rule for f in _check(p).findings}                  # type: ignore[attr-defined]


# ---- generated: every good file broken in every way ------------------------------------------------

HOSTILE = HOSTILE_TEXT


def assert_contract(text: str, report: object) -> None:
    """A verdict or a clean "cannot read", and no silent pass of a named file that mentions vLLM."""
    code = report.exit_code                                                        # type: ignore[attr-defined]
    assert code in (0, 1, 2)
    for r in report.files:                                                         # type: ignore[attr-defined]
        assert r.unreadable is None or (r.unreadable and "\n" not in r.unreadable), r.unreadable
        assert r.unreadable is None or "internal" not in r.unreadable
    if code == 0 and "vllm" in text.lower():
        assert report.files, "a named file that mentions vLLM passed without being listed"  # type: ignore[attr-defined]


@settings(max_examples=300)
@given(index=st.integers(0, len(GOOD) - 1), cut=st.floats(0, 1))
def test_every_kind_cut_short(index: int, cut: float) -> None:
    text = GOOD[index].read_text()
    text = text[: int(len(text) * cut)]
    assert_contract(text, _named(GOOD[index].name, text))


@settings(max_examples=300)
@given(index=st.integers(0, len(GOOD) - 1), at=st.floats(0, 1), junk=st.sampled_from(HOSTILE) | st.text(max_size=4),
       replace=st.booleans())
def test_every_kind_with_hostile_text(index: int, at: float, junk: str, replace: bool) -> None:
    text = GOOD[index].read_text()
    i = int(len(text) * at)
    text = text[:i] + junk + text[i + (len(junk) if replace else 0):]
    assert_contract(text, _named(GOOD[index].name, text))


def _named(name: str, text: str) -> object:
    """Check text as a file of this name named on the command line (the name decides planner.yaml
    and Dockerfile); undecodable text is written as the bytes a user's editor would."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(text.encode("utf-8", "surrogateescape"))
        return _check(p)


YAMLISH_BYTES = st.lists(st.sampled_from(
    ["---", "\n", " ", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!binary", "!!str", "!!omap",
     "!!set", "!!pairs", "!!python/none", "#vllm", "vllm", "&a", "*a", "<<:", ":", "-", "[", "]", "{", "}", ",",
     "'", '"', "?", "|", ">", "%YAML 1.1", "%TAG ! tag:x,", "...", "\t", "\x85", "\ufeff", "2001-13-45", "0x",
     "0o9", "1e", ".nan", "=", "~"]), max_size=40).map("".join)


@settings(max_examples=1000)
@given(text=YAMLISH_BYTES)
def test_yaml_loader_raises_only_its_clean_error(text: str) -> None:
    try:
        load_stream(text, name="f")
    except PlannerError as err:
        assert err.message.startswith("f: ") and "\n" not in err.message
