"""The user's defaults: `$XDG_CONFIG_HOME/vllm-planner/config.toml` (docs/config.md).

A few keys, the defaults of options several commands share; a flag on the command line always wins:

    gpu = "H100"              # --gpu
    vllm_version = "0.19.0"   # --vllm-version
    device = "cuda"           # --device (cuda or cpu)
    offline = true            # --offline (check: never --online)

    [plan]                    # a table per command overrides the top level for that command
    gpu = "H100,A100-SXM-80GB"

The file is found at $PLANNER_CONFIG when set (an empty value: no file at all), else
$XDG_CONFIG_HOME/vllm-planner/config.toml, else ~/.config/vllm-planner/config.toml. A missing default
file is no error; a malformed file, an unknown key or a value of the wrong type is bad input (exit 2),
named with its file and line. The defaults reach the commands as click's `default_map`, which is why a
flag given on the command line always wins over them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import PlannerError, did_you_mean
from planner.release.vllm_versions import LATEST, parse_version

ENV_VAR = "PLANNER_CONFIG"
APP_DIR = "vllm-planner"
FILE_NAME = "config.toml"
MAX_BYTES = 64 * 1024       # a defaults file is a few lines; anything bigger is not one


@dataclass(frozen=True)
class Key:
    """One key the user's config file may set: the option it is the default of."""

    option: str                            # the option it is the default of
    kind: type                             # str or bool
    choices: tuple[str, ...] | None = None
    not_for: tuple[str, ...] = ()          # commands whose option of that name means something else
    doc: str = ""


# The options shared by the commands. `validate --vllm-version` defaults to the launched vLLM's own
# release, which a configured default must not replace.
KEYS: dict[str, Key] = {
    "gpu": Key("--gpu", str, doc="GPU to plan and estimate for (a catalog id or alias, or a comma list "
                                 "and `any` for plan)"),
    "vllm_version": Key("--vllm-version", str, not_for=("validate",), doc="vLLM release to model"),
    "device": Key("--device", str, choices=("cuda", "cpu"), doc="cuda or cpu (vLLM's CPU backend)"),
    "offline": Key("--offline", bool, doc="never touch the network (Hub cache and catalog only)"),
}
# The commands a [table] may name (those with at least one of the options above).
COMMANDS = ("estimate", "plan", "perf", "check", "validate", "cost")


@dataclass(frozen=True)
class UserConfig:
    """The user's config file: its top-level defaults and those per command."""

    path: Path | None
    top: dict[str, Any]
    per_command: dict[str, dict[str, Any]]

    def defaults_for(self, command: str) -> dict[str, Any]:
        """Parameter name -> default for `command` (click's default_map of that command)."""
        merged = {**self.top, **self.per_command.get(command, {})}
        return {name: value for name, value in merged.items() if command not in KEYS[name].not_for}

    def default_map(self, commands: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """click's default_map for the root command: one entry per subcommand. An option a command does
        not have is never looked up, so every command can get every key."""
        return {c: d for c in commands if (d := self.defaults_for(c))}


EMPTY = UserConfig(None, {}, {})


def config_path(env: dict[str, str] | None = None) -> tuple[Path | None, bool]:
    """(the file to read, whether it was named explicitly by $PLANNER_CONFIG)."""
    env = dict(os.environ) if env is None else env
    named = env.get(ENV_VAR)
    if named is not None:
        return (Path(named).expanduser(), True) if named.strip() else (None, True)
    base = env.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base).expanduser() if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / APP_DIR / FILE_NAME, False


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """The line where `key` is set (inside `[table]` when given), for an error message."""
    current: str | None = None
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]", line)
        if header:
            current = header.group(1).strip("\"'")
            continue
        if current == table and re.match(rf"[\"']?{re.escape(key)}[\"']?\s*=", line):
            return no
    return None


def _where(path: Path, text: str, key: str, table: str | None) -> str:
    no = _line_of(text, key, table)
    return f"{path}" + (f" line {no}" if no else "")


def _check_value(path: Path, text: str, key: str, value: Any, table: str | None) -> Any:
    spec = KEYS[key]
    where = _where(path, text, key, table)
    name = f"{table}.{key}" if table else key
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise PlannerError(f"{where}: {name} must be true or false, got {value!r}", code="config")
        return value
    if not isinstance(value, str) or not value.strip():
        raise PlannerError(f"{where}: {name} must be a non-empty string, got {value!r}", code="config",
                           hint=f'e.g. {key} = "{_EXAMPLE[key]}"')
    if spec.choices is not None and value not in spec.choices:
        raise PlannerError(f"{where}: {name} must be one of {', '.join(spec.choices)}, got {value!r}",
                           code="config")
    if key == "vllm_version":
        try:
            parse_version(value)
        except PlannerError:
            raise PlannerError(f"{where}: {name}: {value[:40]!r} is not a vLLM release", code="config",
                               hint=f'e.g. vllm_version = "{LATEST}"') from None
    return value


_EXAMPLE = {"gpu": "H100", "vllm_version": LATEST, "device": "cuda", "offline": "true"}


def _keys(path: Path, text: str, data: dict[str, Any], table: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if table is None and key in COMMANDS and isinstance(value, dict):
            continue
        if key not in KEYS:
            where = _where(path, text, key, table)
            known = list(KEYS) + ([] if table else [f"[{c}]" for c in COMMANDS])
            hint = did_you_mean(key, known) or "known keys: " + ", ".join(KEYS)
            raise PlannerError(f"{where}: unknown key {(table + '.' if table else '') + key!r}", code="config",
                               hint=hint)
        out[key] = _check_value(path, text, key, value, table)
    return out


def parse(text: str, path: Path) -> UserConfig:
    """The config in `text` (read from `path`, which errors name)."""
    # Only when a file exists: the parser's regexes cost tens of milliseconds of every start otherwise.
    import tomllib  # noqa: PLC0415 - stdlib, loaded only when there is a file to read
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{path} line {m.group(1)}" if m else str(path)
        reason = re.sub(r"\s*\(at line.*", "", msg)
        raise PlannerError(f"{where}: not valid TOML: {reason}", code="config", hint="see docs/config.md") from None
    top = _keys(path, text, data, None)
    per: dict[str, dict[str, Any]] = {}
    for name in COMMANDS:
        section = data.get(name)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise PlannerError(f"{_where(path, text, name, None)}: {name} must be a table ([{name}])",
                               code="config")
        per[name] = _keys(path, text, section, name)
    return UserConfig(path, top, per)


def load(env: dict[str, str] | None = None) -> UserConfig:
    """The user's config (EMPTY when there is none). PlannerError for a file that is named but missing,
    unreadable, too large, or malformed."""
    path, named = config_path(env)
    if path is None:
        return EMPTY
    if not path.is_file():
        if named and not path.exists():
            raise PlannerError(f"${ENV_VAR} names {path}, which does not exist", code="config",
                               hint=f"create it, or unset {ENV_VAR}; an empty value reads no file")
        if named or path.exists():
            raise PlannerError(f"{path}: not a file", code="config")
        return EMPTY
    try:
        if path.stat().st_size > MAX_BYTES:
            raise PlannerError(f"{path}: {path.stat().st_size:,} bytes is too large for a config file",
                               code="config", hint=f"at most {MAX_BYTES // 1024} KiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read: {exc.strerror or exc}", code="config") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PlannerError(f"{path}: not UTF-8 text", code="config") from None
    return parse(text, path)
