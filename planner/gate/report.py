"""Render a check Report: human (rich, grouped by file), json (schema_version 1), github, junit."""

from __future__ import annotations

import os
from typing import Any
from xml.etree import ElementTree as ET

from planner.answers import CheckAnswer, CheckFindingJson
from planner.errors import SCHEMA_VERSION
from planner.gate.model import Finding, Report
from planner.gate.rules import SNIPPETS
from planner.rendering.term import wrap

FINDING_INDENT = 8      # continuation lines of a finding, and its fix, start under "fix:"

FORMATS = ("human", "json", "github", "junit")


def _finding_json(report: Report, f: Finding) -> CheckFindingJson:
    return {"file": f.file, "line": f.line, "rule": f.rule, "severity": report.severity(f),
            "message": f.message, "hint": f.hint, "where": f.where}


def to_json(report: Report) -> CheckAnswer:
    """The stable contract of `planner check --format json`."""
    return {
        "schema_version": SCHEMA_VERSION,
        "exit_code": report.exit_code,
        "strict": report.strict,
        "summary": {
            "files": len(report.files),
            "invocations": sum(len(r.invocations) for r in report.files),
            "errors": report.errors,
            "warnings": report.warnings,
            "unreadable": len(report.unreadable),
        },
        "files": [
            {
                "path": r.path,
                "kind": r.kind,
                "status": "unreadable" if r.unreadable else ("skipped" if r.skipped else "checked"),
                "reason": r.unreadable or r.skipped,
                "invocations": [
                    {"line": i.line, "where": i.where,
                     "model": (i.model_override or (i.command.model if i.command else None)),
                     "vllm_version": i.vllm_version, "gpu": i.gpu_label, "gpu_count": i.gpu_count,
                     "parse_error": i.parse_error, "memory": i.memory}
                    for i in r.invocations
                ],
                "findings": [_finding_json(report, f) for f in r.findings],
            }
            for r in report.files
        ],
    }


def _gh_escape(text: str, *, prop: bool = False) -> str:
    # GitHub workflow-command escaping (actions/toolkit core/src/command.ts escapeData/escapeProperty).
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _repo_path(path: str) -> str:
    """GitHub annotates files by their path in the workspace: absolute paths under it are made relative."""
    if os.path.isabs(path):
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            return rel
    return path


def to_github(report: Report) -> str:
    """Workflow commands: `::error file=F,line=L,title=RULE::message` (annotations on the PR)."""
    lines = []
    for r in report.files:
        if r.unreadable:
            lines.append(f"::error file={_gh_escape(_repo_path(r.path), prop=True)},title=unreadable::"
                         f"{_gh_escape(r.path + ': ' + r.unreadable)}")
        elif r.skipped:
            lines.append(f"::warning file={_gh_escape(_repo_path(r.path), prop=True)},title=skipped::"
                         f"{_gh_escape(r.path + ': skipped: ' + r.skipped)}")
        for f in r.findings:
            msg = _sentence(f.message) + (f" Fix: {f.hint}" if f.hint else "")
            lines.append(f"::{report.severity(f)} file={_gh_escape(_repo_path(f.file), prop=True)},line={f.line},"
                         f"title={_gh_escape(f.rule, prop=True)}::{_gh_escape(msg)}")
    lines.append(_summary_line(report))
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def to_junit(report: Report) -> str:
    """JUnit XML: one testcase per file; error findings are failures, unreadable files errors."""
    suite = ET.Element("testsuite", name="planner check", tests=str(len(report.files)),
                       failures=str(sum(1 for r in report.files if _file_errors(report, r))),
                       errors=str(len(report.unreadable)), skipped=str(sum(1 for r in report.files if r.skipped)))
    for r in report.files:
        case = ET.SubElement(suite, "testcase", classname="planner.check", name=r.path)
        if r.unreadable:
            ET.SubElement(case, "error", message=r.unreadable, type="unreadable").text = r.unreadable
            continue
        if r.skipped:
            ET.SubElement(case, "skipped", message=r.skipped)
            continue
        errors = _file_errors(report, r)
        if errors:
            body = "\n".join(_plain(report, f) for f in errors)
            ET.SubElement(case, "failure", message=f"{len(errors)} error(s)", type="planner-check").text = body
        warnings = [f for f in r.findings if report.severity(f) == "warning"]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(_plain(report, f) for f in warnings)
    root = ET.Element("testsuites")
    root.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _file_errors(report: Report, r: Any) -> list[Finding]:
    return [f for f in r.findings if report.severity(f) == "error"]


def _plain(report: Report, f: Finding) -> str:
    text = f"{f.file}:{f.line}: {report.severity(f)} [{f.rule}] {f.message}"
    return text + (f" (fix: {f.hint})" if f.hint else "")


def _summary_line(report: Report) -> str:
    files = len(report.files)
    inv = sum(len(r.invocations) for r in report.files)
    text = (f"{files} file(s), {inv} vLLM invocation(s): {report.errors} error(s), "
            f"{report.warnings} warning(s)")
    if report.unreadable:
        text += f", {len(report.unreadable)} unreadable"
    skipped = sum(1 for r in report.files if r.skipped)
    if skipped:
        text += f", {skipped} skipped"
    return text


def render_human(report: Report, console: Any) -> None:
    """Findings grouped by file, errors in red, with the fix under each."""
    from rich.markup import escape  # noqa: PLC0415 - rich only for the human report

    colour = {"error": "red", "warning": "yellow"}
    for r in report.files:
        if r.unreadable:
            console.print(f"[red]cannot read[/red] [bold]{escape(r.path)}[/bold]: {escape(r.unreadable)}",
                          soft_wrap=True)
            continue
        if r.skipped:
            console.print(f"[bold]{escape(r.path)}[/bold]: [dim]skipped: {escape(r.skipped)}[/dim]", soft_wrap=True)
            continue
        state = "[red]fail[/red]" if _file_errors(report, r) else "[green]ok[/green]"
        # soft_wrap: a long path must not push the verdict onto a line of its own (grep-able output)
        console.print(f"[bold]{escape(r.path)}[/bold] ({r.kind}, {len(r.invocations)} vLLM invocation(s)): {state}",
                      soft_wrap=True)
        for f in r.findings:
            sev = report.severity(f)
            # Wrapped at word boundaries to the console's width (80 when piped), under the message's
            # column; the prefix (line, severity, rule) stays on the first line, so grep for a rule works.
            lead = f"  {f.line:>4}  {sev:<7} {f.rule}  "
            lines = wrap(f.message, console.width, indent=lead, subsequent=FINDING_INDENT)
            styled = (f"  {f.line:>4}  [{colour[sev]}]{sev:<7}[/{colour[sev]}] [cyan]{escape(f.rule)}[/cyan]  "
                      + escape(lines[0][len(lead):]))
            console.print(styled, soft_wrap=True)
            for more in lines[1:]:
                console.print(escape(more), soft_wrap=True)
            if f.hint:
                # A snippet to copy (a HEALTHCHECK line) is never broken; the prose around it is.
                snippets = [snip for snip in SNIPPETS if snip in f.hint]
                for more in wrap("fix: " + f.hint, console.width, indent=FINDING_INDENT, keep=snippets):
                    console.print(f"[dim]{escape(more)}[/dim]", soft_wrap=True)
    if not report.files:
        console.print("no vLLM deployment found (files that do not mention vLLM are not checked)")
    console.print(_summary_line(report))
