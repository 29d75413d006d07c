"""What `--help` says, for every command: usage forms, one-line summaries, examples, option metavars.

The commands keep their own HELP paragraph and option help; this module adds what a newcomer looks for
first and that click does not derive: the usage line with MODEL and the pasted `-- vllm serve ...` form,
a summary per command that `planner --help` prints whole (click would cut it at 45 characters), 1-3
examples that run as written (catalog aliases from `planner models`), and metavars that say what an option
takes (`--device [cuda|cpu]`, `--gpu GPU`) instead of the type (`<str>`). Options with a fixed set of
values complete those values in the shell; `--gpu` completes catalog GPUs, `models show` catalog aliases.

Everything here is data plus a mixin for typer's command classes: no import beyond typer and the
standard library, so `planner --help` stays as light as typer itself (tests/test_imports.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from typer.core import TyperCommand, TyperGroup

from planner.cli_params import DeferredParams
from planner.release.vllm_flags import flags_of

try:  # typer >= 0.26 vendors click as typer._click
    from typer._click import Context, HelpFormatter
    from typer._click.shell_completion import CompletionItem
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import Context, HelpFormatter  # type: ignore[assignment]
    from click.shell_completion import CompletionItem  # type: ignore[assignment]


@dataclass(frozen=True)
class CommandHelp:
    """The help of one command beyond its docstring: summary, usage forms, examples, arguments."""

    summary: str                                   # one line in the parent's command list
    usage: tuple[str, ...] = ()                    # forms after the program name; () = click's own
    examples: tuple[tuple[str, str], ...] = ()     # (command line, what it shows)
    arguments: tuple[tuple[str, str], ...] = ()    # (NAME, help) for words the command reads itself


MODEL_ARGS = (
    ("MODEL", "A catalog alias (planner models), a Hugging Face repo id, or a local folder with config.json."),
    ("VLLM FLAGS", "Any `vllm serve` flag of the release, spelt as vLLM spells it (planner flags lists "
                   "them); after `--`, a whole pasted `vllm serve ...` command."),
)

# Keyed by the command path without the program name ("" is `planner` itself).
COMMANDS: dict[str, CommandHelp] = {
    "": CommandHelp(
        summary="Plan, check and validate vLLM deployments.",
        examples=(("planner plan llama-3.1-8b --gpu L4", "the GPUs, flags and `vllm serve` command"),
                  ("planner estimate qwen3-32b --gpu H100 --max-model-len 32k", "memory and KV cache"),
                  ("planner flags max-model-len", "what a vLLM flag does to memory and speed"))),
    "estimate": CommandHelp(
        summary="Memory, KV cache and startup of MODEL, as vLLM logs them.",
        usage=("estimate [OPTIONS] MODEL [VLLM FLAGS]...",
               "estimate [OPTIONS] -- vllm serve MODEL [VLLM FLAGS]..."),
        arguments=MODEL_ARGS,
        examples=(("planner estimate llama-3.1-8b --gpu H100", "one GPU, vLLM's defaults"),
                  ("planner estimate qwen3-32b --gpu L40S -tp 2 --max-model-len 32k", "two GPUs, 32,000 tokens"),
                  ("planner estimate --gpu A100 -- vllm serve Qwen/Qwen3-32B -tp 2", "a pasted command"))),
    "plan": CommandHelp(
        summary="Recommend GPUs, parallelism, quantization and vLLM flags.",
        usage=("plan [OPTIONS] MODEL [VLLM FLAGS]...", "plan [OPTIONS] -- vllm serve MODEL [VLLM FLAGS]..."),
        arguments=MODEL_ARGS,
        examples=(("planner plan llama-3.1-70b --gpu H100", "fewest H100s, then the command"),
                  ("planner plan qwen3-32b --gpu any --quant auto --objective cost", "cheapest GPU type"),
                  ("planner plan llama-3.1-8b --gpu L4 --context 32k --emit k8s", "a Kubernetes manifest"))),
    "perf": CommandHelp(
        summary="Predict `vllm bench serve`: throughput and latency.",
        usage=("perf [OPTIONS] MODEL [VLLM FLAGS]...", "perf [OPTIONS] -- vllm serve MODEL [VLLM FLAGS]..."),
        arguments=MODEL_ARGS,
        examples=(("planner perf llama-3.1-8b --gpu H100 --num-prompts 200", "vLLM's result block"),
                  ("planner perf llama-3.1-8b --gpu H100 --sweep max-concurrency=1,8,64", "a curve"))),
    "cost": CommandHelp(
        summary="Self-hosting on vLLM against a hosted API, per month and year.",
        usage=("cost [OPTIONS] MODEL [VLLM FLAGS]...",),
        arguments=MODEL_ARGS,
        examples=(("planner cost mistral-7b --gpu A10 --requests-per-month 500k --input-len 700 --output-len 100 "
                   "--api gpt-4o", "against a hosted model from the price catalog"),
                  ("planner cost llama-3.1-8b --gpu H100 --requests-per-month 2m --input-len 500 --output-len 200 "
                   "--api-price 0.15,0.60", "against prices of your own (USD per 1M tokens)"))),
    "check": CommandHelp(
        summary="Check deployment files for what vLLM would reject.",
        usage=("check [OPTIONS] [PATH]...",),
        examples=(("planner check k8s/ docker-compose.yaml", "manifests and compose files"),
                  ("helm template ./chart | planner check -", "Helm output on stdin"),
                  ("planner check . --format github", "annotations for a pull request"))),
    "validate": CommandHelp(
        summary="Run vLLM (or read its log) and compare with the prediction.",
        usage=("validate [OPTIONS] MODEL [VLLM FLAGS]...",),
        arguments=MODEL_ARGS[1:],
        examples=(("planner validate llama-3.2-1b --gpu L4 --max-model-len 8k", "launches vLLM"),
                  ("planner validate llama-3.1-8b --gpu H100 --from-log vllm.log", "a saved startup log"))),
    "gpus": CommandHelp(
        summary="List the GPUs --gpu accepts: memory, bandwidth, price.",
        usage=("gpus [OPTIONS] [QUERY]",),
        examples=(("planner gpus", "every GPU"), ("planner gpus h100", "the H100 variants"),
                  ("planner gpus --json", "for scripts"))),
    "models": CommandHelp(
        summary="List, search and show the bundled model catalog.",
        usage=("models [OPTIONS] [QUERY]", "models show [OPTIONS] ALIAS"),
        examples=(("planner models", "every model"), ("planner models qwen3", "a family"),
                  ("planner models show llama-3.1-8b", "one entry"))),
    "models list": CommandHelp(
        summary="List catalog models matching QUERY (alias, repo id or family).",
        usage=("models [list] [OPTIONS] [QUERY]",),
        examples=(("planner models llama", "aliases and repos with llama"),
                  ("planner models --json", "for scripts"))),
    "models show": CommandHelp(
        summary="Print one catalog entry: repos, size, architecture.",
        usage=("models show [OPTIONS] ALIAS",),
        examples=(("planner models show llama-3.1-8b", "by alias"),
                  ("planner models show Qwen/Qwen3-32B", "by repo id"))),
    "flags": CommandHelp(
        summary="List the vLLM flags of a release or of one argument group, or explain one.",
        usage=("flags [OPTIONS] [NAME]", "estimate --help=all | --help=GROUP | --help=NAME"),
        examples=(("planner flags max-model-len", "type, default, releases, memory and speed"),
                  ("planner flags --group ModelConfig", "one group, as vllm serve --help=ModelConfig"),
                  ("planner flags --vllm-version 0.10.1.1 swap-space", "a flag of an older release"))),
}

# What each option takes, instead of its type. `[a|b]` lists the values (and the shell completes them).
METAVARS: dict[str, str] = {
    "--gpu": "GPU", "--device": "[cuda|cpu]", "--gpu-memory-gib": "GIB", "--quant": "SCHEME",
    "--vllm-version": "VERSION", "--vllm-engine": "[v0|v1]", "--revision": "REV", "--hf-token": "TOKEN",
    "--num-gpus": "N", "--max-gpus": "N", "--objective": "[gpus|cost|kv]", "--context": "TOKENS",
    "--concurrency": "N", "--emit": "[vllm|docker|compose|k8s|all]", "--out": "DIR",
    "--format": "[human|json|github|junit]", "--output": "FILE", "--vllm-cmd": "CMD", "--vllm-env": "DIR",
    "--from-log": "FILE", "--metrics": "FILE", "--requests": "N", "--max-tokens": "N", "--timeout": "SECONDS",
    "--tolerance": "FRACTION", "--log-dir": "DIR", "--catalog": "FILE", "--dataset-name": "[random|sharegpt]",
}
# (command, option) -> metavar, where a command's option takes more than the shared one.
COMMAND_METAVARS: dict[tuple[str, str], str] = {
    ("plan", "--gpu"): "GPU[,GPU...]|any",
    ("plan", "--quant"): "auto|SCHEME[,SCHEME...]",
    ("validate", "--device"): "[auto|cuda|cpu]",
    ("cost", "--price-kind"): "[on-demand|spot|reserved]",
}
# A type-named metavar typer would print -> a plain one.
_TYPE_METAVARS = {"<int>": "N", "<float>": "NUM", "<str>": "TEXT", "<path>": "PATH", "<bool>": "BOOL"}


def help_for(ctx: Context) -> CommandHelp | None:
    return COMMANDS.get(key_of(ctx))


def key_of(ctx: Context) -> str:
    return " ".join(ctx.command_path.split()[1:])


def choices_of(metavar: str | None) -> tuple[str, ...]:
    if metavar and metavar.startswith("[") and metavar.endswith("]") and "|" in metavar:
        return tuple(metavar[1:-1].split("|"))
    return ()


def _complete_choices(choices: tuple[str, ...]) -> Callable[..., list[CompletionItem]]:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(c) for c in choices if c.startswith(incomplete)]
    return complete


# The catalogs load only when the shell asks for completions: `planner --help` must not read them.
def _complete_gpu(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    gpu_catalog = import_module("gpu_catalog")
    names = sorted({n for g in gpu_catalog.all_gpus().values() for n in (g.id, *g.aliases)})
    low = incomplete.lower()
    return [CompletionItem(n) for n in names if n.lower().startswith(low)]


def _complete_alias(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    model_catalog = import_module("model_catalog")
    low = incomplete.lower()
    return [CompletionItem(e.alias) for e in model_catalog.all_entries(None) if e.alias.startswith(low)]


def _complete_flag(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
    word = incomplete.lstrip("-")
    return [CompletionItem(f.name[2:]) for f in flags_of() if f.name[2:].startswith(word)]


_COMPLETERS: dict[str, Callable[..., list[CompletionItem]]] = {
    "--gpu": _complete_gpu, "alias": _complete_alias, "name": _complete_flag,
}


def dress_params(command_name: str, params: list[Any]) -> None:
    """Metavars and shell completion for a command's parameters (called once, when click builds it)."""
    for p in params:
        opts = [o for o in getattr(p, "opts", ()) if o.startswith("--")]
        if getattr(p, "param_type_name", "") == "option" and opts and not getattr(p, "is_flag", False):
            opt = opts[0]
            mv = COMMAND_METAVARS.get((command_name, opt)) or METAVARS.get(opt) or p.metavar
            if mv is not None:
                p.metavar = mv
            choices = choices_of(mv)
            if choices:
                p._custom_shell_complete = _complete_choices(choices)
            elif opt in _COMPLETERS:
                p._custom_shell_complete = _COMPLETERS[opt]
        elif getattr(p, "param_type_name", "") == "argument" and p.name in _COMPLETERS:
            p._custom_shell_complete = _COMPLETERS[p.name]


def _display_type(p: Any, ctx: Context) -> str:
    try:
        shown = p.display_type(ctx)
    except (AttributeError, TypeError):
        return ""
    return _TYPE_METAVARS.get(shown, "")


class HelpMixin:
    """Usage forms, arguments without `<type>`, plain metavars, whole summaries and examples in the help
    of a typer command or group (typer's plain, non-rich formatter: rich_markup_mode=None)."""

    params: list[Any]

    def format_usage(self, ctx: Context, formatter: HelpFormatter) -> None:
        info = help_for(ctx)
        if info is None or not info.usage:
            super().format_usage(ctx, formatter)  # type: ignore[misc]
            return
        prog = ctx.find_root().info_name or "planner"
        for i, form in enumerate(info.usage):
            formatter.write(("Usage: " if i == 0 else "   or: ") + f"{prog} {form}\n")

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        info = help_for(ctx)
        args: list[tuple[str, str]] = []
        opts: list[tuple[str, str]] = []
        for p in self.get_params(ctx):  # type: ignore[attr-defined]
            if getattr(p, "hidden", False):
                continue
            if p.param_type_name == "argument":
                name = (p.metavar or p.name or "").upper() + ("..." if p.nargs != 1 else "")
                args.append((name, p.help or ""))
                continue
            rv = p.get_help_record(ctx)
            if rv is None:
                continue
            name, text = rv
            if p.metavar is None:           # typer's `<str>` -> TEXT, `<int>` -> N
                for typed, plain in _TYPE_METAVARS.items():
                    name = name.replace(" " + typed, " " + plain)
            opts.append((name, text))
        if info is not None:
            args.extend(info.arguments)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)
        if isinstance(self, TyperGroup):
            self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Each subcommand with its whole summary (click would cut it with '...')."""
        rows = []
        commands: Mapping[str, Any] = getattr(self, "commands", {})
        prefix = key_of(ctx)
        for name in commands:
            # A summary of our own needs no command object: the root's commands import on first access.
            info = COMMANDS.get(f"{prefix} {name}".strip())
            if info is not None:
                rows.append((name, info.summary))
                continue
            cmd = commands[name]
            if cmd.hidden:
                continue
            text = _first_sentence(cmd.short_help or cmd.help or "")
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)  # type: ignore[misc]
        info = help_for(ctx)
        if info is None or not info.examples:
            return
        formatter.write_paragraph()
        formatter.write_heading("Examples")
        for line, what in info.examples:
            # What it shows as a shell comment, then the command to copy: never wrapped inside a word; a
            # long one continues on the next line with the shell's ` \`, so it still pastes as one.
            if what:
                formatter.write(f"  # {what}\n")
            for text in example_lines(line):
                formatter.write(text + "\n")


EXAMPLE_WIDTH = 80


def example_lines(line: str, width: int = EXAMPLE_WIDTH) -> list[str]:
    """`  $ planner ...` in lines of at most `width` columns where it can: a long command continues on the
    next line with the shell's ` \\`, broken before an option (an option and its value stay together)."""
    units: list[str] = []
    for word in line.split(" "):
        if units and not word.startswith("-") and units[-1].startswith("-") and " " not in units[-1]:
            units[-1] += " " + word            # `--gpu H100` is one unit
        else:
            units.append(word)
    out: list[str] = []
    current = "  $ " + units[0]
    for unit in units[1:]:
        if len(current) + 1 + len(unit) + 2 > width:
            out.append(current + " \\")
            current = "      " + unit
        else:
            current += " " + unit
    out.append(current)
    return out


def _first_sentence(text: str) -> str:
    first = " ".join(text.split()).split(". ")[0]
    return first.rstrip(".") + "."


class PlannerCommand(HelpMixin, DeferredParams, TyperCommand):
    """A typer command with the planner's help (see HelpMixin), dressed parameters, and typer's coercion
    built only where a value needs it (DeferredParams)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dress_params(self.name or "", self.params)
