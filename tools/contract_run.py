"""Run issue 11's generated input classes through the planner's CLI and count, per area, how many held
the contract (issue 11's closing note).

    python -m tools.contract_run [--area AREA ...] [--shard I/N] [--json FILE] [--show N]

Areas (tools/generators.py makes the inputs): `flags` (every flag of every release x typed sample
values, through `planner estimate`), `configs` (every field of every reference config set to each
kind of bad value, through `planner estimate FOLDER`), `check` (every file kind of the kinds table with
its expected exit, each good file cut short and with hostile text, and hostile files, through
`planner check`), `pasted` (pasted `vllm serve` forms, through `planner estimate -- ...`) and
`secrets` (tokens and keys in every place, through estimate and plan, --emit included), `perf` (every
option of `planner perf`, read from its typer signature, x typed sample values, on several workload bases,
and the vLLM serve flags the perf model reads), and `cost`, `plan` and `estimate` (every option of
that command's own likewise).

Each input runs in-process through the CLI's own entry (the click command `planner.cli.app_for`
builds, its `main`, as `planner` runs it), in click's isolation (stdin, stdout, stderr captured). It
held the contract when: the exit code is one the input allows (0/1/2; the kinds table and pasted
commands say which exactly); on exit 2, stderr is one line starting `planner: error: ` (or, for
`check`, the report names a file "unreadable" with a one-line reason, as docs/check.md says); no traceback,
no "internal error", no exception escaping the CLI; no secret in stdout, stderr or a written file; and
it ended in under 5 s; and, for the own-option areas under --json, a verdict (exit 0/1) printed strict JSON (no
NaN or Infinity). `--shard I/N` runs every N-th input from the I-th (0-based), to split a long area
over several runs. Exit status 0 when every input held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from planner.cli import app_for
from tools import generators as gen

LIMIT_S = 5.0
AREAS = ("flags", "configs", "check", "pasted", "secrets", "perf", "cost", "plan", "estimate")


@dataclass
class Case:
    argv: list[str]
    allowed: tuple[int, ...] = (0, 1, 2)
    stdin: str | None = None
    secrets: tuple[str, ...] = ()
    files_dir: Path | None = None        # written files to search for the secrets
    setup: Callable[[], None] | None = None
    label: str = ""
    named_vllm_file: str | None = None   # check: a file named on the command line that mentions vLLM
    json_stdout: bool = False            # a verdict (exit 0/1) prints one strict JSON object on stdout


@dataclass
class Tally:
    tried: int = 0
    held: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    slowest_s: float = 0.0


_COMMANDS: dict[str, Any] = {}
_RUNNER = CliRunner()


def _command(name: str) -> Any:
    """The click command `planner NAME ...` runs (built once per command, as a fresh process builds it)."""
    if name not in _COMMANDS:
        _COMMANDS[name] = typer.main.get_command(app_for([name]))
    return _COMMANDS[name]


def invoke(argv: list[str], stdin: str | None = None) -> tuple[int, str, str, BaseException | None, float]:
    """(exit code, stdout, stderr, exception that escaped, seconds) of `planner ARGV`, in-process."""
    cmd = _command(argv[0] if argv else "")
    code = 0
    escaped: BaseException | None = None
    t0 = time.perf_counter()
    with _RUNNER.isolation(input=stdin, env={"HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}) as (out, err, _):
        try:
            cmd.main(args=list(argv), prog_name="planner")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # anything but SystemExit escaping the CLI breaks the contract
            escaped, code = exc, -1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")
    return code, stdout, stderr, escaped, time.perf_counter() - t0


def verdict(case: Case, code: int, out: str, err: str, escaped: BaseException | None, seconds: float) -> str | None:
    """None when the run held the contract, else the first reason it did not."""
    if escaped is not None:
        return f"exception {type(escaped).__name__}"
    if code not in case.allowed:
        return f"exit {code} (allowed {'/'.join(map(str, case.allowed))})"
    text = out + err
    if "Traceback (most recent call last)" in text:
        return "traceback"
    if "internal error" in text:
        return "internal error"
    if code == 2 and not _cannot_read(case, out):
        lines = [line for line in err.splitlines() if line.strip()]
        if len(lines) != 1 or not lines[0].startswith("planner: error: "):
            return f"exit 2 with {len(lines)} stderr line(s)"
    for secret in case.secrets:
        if secret in text:
            return "secret echoed"
        if case.files_dir is not None and case.files_dir.exists():
            for f in case.files_dir.rglob("*"):
                if f.is_file() and secret in f.read_text(errors="replace"):
                    return "secret written to a file"
    if case.named_vllm_file is not None and code == 0:
        try:
            files = json.loads(out).get("files", [])
        except ValueError:
            return "check --format json printed no JSON"
        if not any(f.get("path") == case.named_vllm_file for f in files):
            return "a named file that mentions vLLM passed silently"
    if case.json_stdout and code in (0, 1):
        try:
            json.loads(out, parse_constant=_no_constant)
        except ValueError:
            return "--json printed no strict JSON"
    if seconds >= LIMIT_S:
        return f"took {seconds:.1f} s"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _cannot_read(case: Case, out: str) -> bool:
    """`planner check --format json` exit 2 as docs/check.md says it: a file reported "unreadable" with a
    one-line reason (the report is the answer; nothing on stderr is required)."""
    if not case.argv or case.argv[0] != "check":
        return False
    try:
        files = json.loads(out).get("files", [])
    except (ValueError, AttributeError):
        return False
    return any(f.get("status") == "unreadable" and f.get("reason") and "\n" not in f["reason"] for f in files)


# ---- the areas -------------------------------------------------------------------------------------

def flag_cases() -> Iterator[Case]:
    for version, words in gen.flag_cases():
        yield Case(["estimate", gen.FLAG_MODEL, "--gpu", "H100", "--offline", "--json", "--vllm-version", version,
                    *words], label=f"{version} {' '.join(words)[:80]}")


def config_cases(tmp: Path) -> Iterator[Case]:
    folder = tmp / "model"
    folder.mkdir()
    for ref, path, kind, cfg in gen.config_mutations():
        text = json.dumps(cfg)

        def write(text: str = text) -> None:
            (folder / "config.json").write_text(text)

        yield Case(["estimate", str(folder), "--gpu", "H100", "--json"], setup=write,
                   label=f"{ref} {'.'.join(path)} = {kind}")


def check_cases(tmp: Path) -> Iterator[Case]:
    for rel, code, what in gen.kinds_table():
        yield Case(["check", str(gen.KINDS / rel), "--format", "json"], allowed=(int(code),),
                   label=f"kinds table {rel} (expect {code}: {what})")
    d = tmp / "check"
    d.mkdir()
    for i, (name, how, text) in enumerate(gen.broken_kind_texts()):
        sub = d / str(i)
        p = sub / name

        def write(sub: Path = sub, p: Path = p, text: str = text) -> None:
            sub.mkdir(exist_ok=True)
            p.write_bytes(text.encode("utf-8", "surrogateescape"))

        yield Case(["check", str(p), "--format", "json"], setup=write, label=how,
                   named_vllm_file=str(p) if "vllm" in text.lower() else None)
    for name, data in gen.hostile_files().items():
        p = d / name

        def write_bytes(p: Path = p, data: bytes = data) -> None:
            p.write_bytes(data)

        yield Case(["check", str(p), "--format", "json"], setup=write_bytes, label=f"hostile {name}")
        yield Case(["check", "-", "--format", "json"], stdin=data.decode("utf-8", "replace"),
                   label=f"hostile {name} on stdin")


def pasted_cases() -> Iterator[Case]:
    for words in gen.pasted_commands():
        for cmd in ("estimate", "plan"):
            yield Case([cmd, "--gpu", "H100", "--offline", "--", *words], allowed=(0, 1),
                       label=f"{cmd} -- {' '.join(words)[:80]}")


def secret_cases(tmp: Path) -> Iterator[Case]:
    for i, secret in enumerate(gen.secrets(8)):
        out = tmp / f"emit-{i}"
        for argv in gen.secret_forms(secret, out):
            yield Case(argv, secrets=(secret,), files_dir=out, label=" ".join(argv)[:90])


def own_option_cases(command: str, tmp: Path) -> Iterator[Case]:
    bases = gen.OWN_OPTION_BASES[command]
    for label, argv in gen.own_option_cases(command, bases, tmp):
        yield Case(argv, json_stdout="--json" in argv, label=label)


def cases_of(area: str, tmp: Path) -> Iterator[Case]:
    if area == "flags":
        return flag_cases()
    if area == "configs":
        return config_cases(tmp)
    if area == "check":
        return check_cases(tmp)
    if area == "pasted":
        return pasted_cases()
    if area in gen.OWN_OPTION_BASES:
        return own_option_cases(area, tmp)
    return secret_cases(tmp)


def run_area(area: str, shard: tuple[int, int], show: int, progress: bool) -> Tally:
    tally = Tally()
    index, count = shard
    tmp = Path(tempfile.mkdtemp(prefix=f"contract-{area}-"))
    # Inputs name relative paths (`--out 1`, `--plot x.svg`): they land in the area's temp folder, never in
    # the folder the run was started from.
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        for n, case in enumerate(cases_of(area, tmp)):
            if n % count != index:
                continue
            if case.setup is not None:
                case.setup()
            code, out, err, escaped, seconds = invoke(case.argv, case.stdin)
            tally.tried += 1
            tally.slowest_s = max(tally.slowest_s, seconds)
            why = verdict(case, code, out, err, escaped, seconds)
            if why is None:
                tally.held += 1
            else:
                key = why.split(" (")[0]
                tally.by_reason[key] = tally.by_reason.get(key, 0) + 1
                if len(tally.examples) < show:
                    tally.examples.append(f"{why}: {case.label} | {(err or out).strip()[-160:]!r}")
            if progress and tally.tried % 1000 == 0:
                print(f"  {area}: {tally.tried} tried, {tally.held} held", file=sys.stderr, flush=True)
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
    return tally


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.contract_run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--area", action="append", choices=[*AREAS, "all"], help="default: all")
    ap.add_argument("--shard", default="0/1", help="I/N: every N-th input from the I-th (0-based)")
    ap.add_argument("--json", type=Path, help="also write the counts to this file")
    ap.add_argument("--show", type=int, default=5, help="failures to print per area")
    ap.add_argument("--progress", action="store_true", help="a line on stderr every 1,000 inputs")
    opts = ap.parse_args(argv)
    areas = AREAS if not opts.area or "all" in opts.area else tuple(opts.area)
    i, _, n = opts.shard.partition("/")
    shard = (int(i), int(n or 1))
    results: dict[str, Any] = {}
    ok = True
    t0 = time.perf_counter()
    for area in areas:
        t = time.perf_counter()
        tally = run_area(area, shard, opts.show, opts.progress)
        ok &= tally.held == tally.tried
        results[area] = {"tried": tally.tried, "held": tally.held, "broke": tally.tried - tally.held,
                         "by_reason": tally.by_reason, "slowest_s": round(tally.slowest_s, 2),
                         "seconds": round(time.perf_counter() - t, 1), "examples": tally.examples}
        print(f"{area:8s} tried {tally.tried:6d}  held {tally.held:6d}  broke {tally.tried - tally.held:5d}  "
              f"slowest {tally.slowest_s:.2f} s  ({time.perf_counter() - t:.0f} s)", flush=True)
        for reason, k in sorted(tally.by_reason.items(), key=lambda kv: -kv[1]):
            print(f"           {k:6d} {reason}")
        for example in tally.examples:
            print(f"           e.g. {example}")
    total_tried = sum(r["tried"] for r in results.values())
    total_held = sum(r["held"] for r in results.values())
    print(f"{'all':8s} tried {total_tried:6d}  held {total_held:6d}  broke {total_tried - total_held:5d}  "
          f"(shard {opts.shard}, {time.perf_counter() - t0:.0f} s)")
    if opts.json:
        opts.json.write_text(json.dumps({"shard": opts.shard, "areas": results}, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
