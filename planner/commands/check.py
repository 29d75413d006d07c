"""`planner check PATH...`: a CI gate for vLLM deployments kept in git (issue 5).

Reads Kubernetes manifests (and Helm output on stdin with `-`), docker-compose files, Dockerfiles, shell
scripts and planner.yaml files, recognised by content; reports flags the target vLLM does not accept and
configurations that would fail at startup or miss their requirements. Exit 0 pass, 1 an error finding,
2 some input could not be read (the others are still checked and reported).
"""

from __future__ import annotations

import json
import sys
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planner.commands._run import run_command
from planner.errors import PlannerError, did_you_mean
from planner.gate.output import write_report
from planner.gate.report import FORMATS, render_human, to_github, to_json, to_junit
from planner.gate.rules import Settings
from planner.gate.run import STDIN, check_paths
from planner.release.vllm_versions import parse_version
from planner.rendering import term

if TYPE_CHECKING:
    import gpu_catalog
else:
    from planner.lazy import lazy

    gpu_catalog = lazy("gpu_catalog")      # only to check --gpu: files name their GPUs, read by the rules

HELP = ("Check vLLM deployment files (Kubernetes, Helm output via -, compose, Dockerfile, shell, planner.yaml) "
        "for flags the vLLM version rejects and configurations that fail at startup. "
        "Exit 0 pass, 1 error findings, 2 unreadable input.")


def command(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH", help="Files or folders to check (default: .); `-` reads stdin (helm template ... |).",
    )] = None,
    gpu: Annotated[str | None, typer.Option(
        "--gpu", help="GPU to assume where a file does not name one (catalog id, alias, GFD label).")] = None,
    vllm_version: Annotated[str | None, typer.Option(
        "--vllm-version", help="vLLM release to assume where a file does not say (image tag, comment).")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help="human, json, github (PR annotations) or junit.")] = "human",
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    online: Annotated[bool, typer.Option(
        "--online", help="Fetch configs of models the catalog does not know from the Hugging Face Hub.")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report to FILE instead of stdout.")] = None,
    debug: Annotated[bool, typer.Option("--debug", hidden=True)] = False,
) -> None:
    def run() -> int:
        if fmt not in FORMATS:
            raise PlannerError(f"--format: invalid choice {fmt!r}",
                               hint=did_you_mean(fmt, FORMATS) or "choose from " + ", ".join(FORMATS))
        if vllm_version is not None:
            parse_version(vllm_version)
        if gpu is not None:
            gpu_catalog.resolve(gpu)
        targets = paths or ["."]
        stdin_text = sys.stdin.read() if STDIN in targets else None
        settings = Settings(gpu=gpu, vllm_version=vllm_version, offline=not online)
        report = check_paths(targets, stdin_text=stdin_text, settings=settings, strict=strict)
        if fmt == "human":
            if output is None:
                render_human(report, term.console())
                return report.exit_code
            buf = StringIO()
            render_human(report, term.console(file=buf, cols=120, styled=False))
            text = buf.getvalue()
        elif fmt == "json":
            text = json.dumps(to_json(report), indent=2) + "\n"
        elif fmt == "github":
            text = to_github(report)
        else:
            text = to_junit(report)
        if output is None:
            sys.stdout.write(text)
        else:
            write_report(output, text)
        return report.exit_code

    run_command(run, json_mode=fmt == "json", debug=debug)
