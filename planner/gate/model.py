"""What `planner check` works on: invocations found in files, findings about them, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from planner.release.serve_args import ServeCommand

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str                      # stable id, e.g. "flag-removed", "kv-cache-too-small"
    severity: Severity
    message: str
    hint: str | None = None
    where: str | None = None       # resource/container/service the finding is about


@dataclass(frozen=True)
class Requirements:
    """What a planner.yaml asks of a deployment."""

    min_context: int | None = None
    min_concurrency: float | None = None
    # Spare KV capacity as a fraction of what min_concurrency x min_context needs (0.2 = 20 % more).
    min_kv_headroom: float | None = None
    lines: dict[str, int] = field(default_factory=dict)   # line of each requirement in the file


@dataclass
class Invocation:
    """One vLLM server launch found in a file, with what the file says about where it runs."""

    file: str
    line: int                                   # line of the command (or of the container)
    where: str                                  # "Deployment/vllm container vllm", "service llm", ...
    words: list[str]                            # the argv as given to parse_serve_argv
    word_lines: list[int]                       # line of each word
    command: ServeCommand | None = None         # None when the command could not be parsed
    parse_error: str | None = None              # why vLLM's parser would refuse the command line
    gpu_count: int | None = None                # GPUs per pod/container
    replicas_per_group: int = 1                 # LeaderWorkerSet group size: pods that share one engine
    gpu_label: str | None = None                # GPU as the file names it (GFD label, annotation, ...)
    gpu_label_line: int | None = None
    gpu_choices: tuple[str, ...] = ()           # several labels allowed by an affinity rule
    image: str | None = None
    image_line: int | None = None
    vllm_version: str | None = None             # from the image tag or an override
    version_source: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    readiness: Literal["health", "other", "missing", "n/a"] = "n/a"
    readiness_line: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)   # planner: key=value / planner.io/ annotations
    model_override: str | None = None
    requirements: Requirements | None = None
    ignore: frozenset[str] = frozenset()        # rule ids silenced by `# planner: ignore=...`
    notes: list[Finding] = field(default_factory=list)        # findings the extractor already made
    source: str = ""                            # kubernetes, kserve, compose, dockerfile, shell, planner
    # What the memory model predicted (gpu, vllm version, fits, KV tokens, concurrency), when it ran.
    memory: dict[str, object] | None = None

    def line_of_word(self, index: int | None) -> int:
        if index is not None and 0 <= index < len(self.word_lines):
            return self.word_lines[index]
        return self.line


@dataclass
class FileResult:
    path: str
    kind: str | None = None                     # "kubernetes", "compose", "dockerfile", "shell", "planner"
    invocations: list[Invocation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unreadable: str | None = None               # why the file could not be read (exit 2)
    skipped: str | None = None                  # why a readable file was not checked (e.g. Helm template)


@dataclass
class Report:
    files: list[FileResult]
    strict: bool = False

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    def severity(self, f: Finding) -> Severity:
        return "error" if self.strict else f.severity

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if self.severity(f) == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if self.severity(f) == "warning")

    @property
    def unreadable(self) -> list[FileResult]:
        return [r for r in self.files if r.unreadable]

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return 2
        return 1 if self.errors else 0
