"""A pasted `vllm serve ...` command line <-> (model, EngineArgs), parsed the way vLLM's own parser does.

Accepted launchers: `vllm serve`, `python[3] -m vllm.entrypoints.openai.api_server`,
`python[3] -m vllm.entrypoints.api_server`, `python -m vllm.entrypoints.cli.main serve`, or no launcher
at all (bare serve arguments, as a container of the vllm/vllm-openai image passes them to its
entrypoint). Leading `VAR=value` words (and `env`, `exec`, `nohup`) are collected as environment.

Parsing follows vLLM's FlexibleArgumentParser (vllm/utils/argparse_utils.py) on top of argparse:
`--flag value` and `--flag=value`, `_` or `-` in names, unambiguous prefixes (`--kv-cache-memory=20G`),
`-tp 2`, `-O3` / `-O 3`, `--enable-x`/`--disable-x`/`--no-enable-x`, dotted JSON keys
(`--compilation-config.mode 3`), human numbers (`32k` = 32000, `32K` = 32768) where vLLM takes them,
`--max-model-len auto`/`-1`, last occurrence wins. A value vLLM's parser would reject raises PlannerError.
Which flags exist, and how each takes its value, comes from `planner.release.vllm_flags`.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field, fields
from typing import Literal

from planner.errors import PlannerError
from planner.redact import SECRET_DESTS, is_secret_env, remember
from planner.release.engine_args import EngineArgs, nullable_kvs, parse_human_int
from planner.release.vllm_flags import FlagInfo, api_server_takes_positional_model, flag_info, flag_status, resolve
from planner.release.vllm_versions import LATEST, rules_for

DEFAULT_VERSION = LATEST
# Flags read as a what-if on releases that predate them ("given this much KV memory"): parsed as the newest
# release spells them, and the estimate says the release lacks the flag. A deployment file that uses one on
# such a release still fails `planner check`, which asks what vLLM would do with the file.
WHAT_IF_FLAGS = frozenset({"--kv-cache-memory-bytes"})
# Fields `to_serve_argv` always writes, so a generated command does not depend on version defaults.
DEFAULT_EXPLICIT = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "max_num_seqs")

# EngineArgs fields are vLLM dests; everything else a command sets survives in `passthrough`.
_ENGINE_FIELDS = {f.name: f for f in fields(EngineArgs) if f.name != "passthrough"}
# The Python types each field holds (from its annotation), to convert what a release's parser yields.
_FIELD_KINDS: dict[str, frozenset[type]] = {
    name: frozenset(t for t in (int, float, bool, str, type(None)) if t.__name__ in str(f.type).split(" | "))
    for name, f in _ENGINE_FIELDS.items()
}
# Longest value word converted as a number: 10**24 is more than any size vLLM takes.
MAX_VALUE_CHARS = 32

_ENV_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# argparse treats a word that looks like a negative number as a value, not an option (the serve parser
# has no option that looks like a negative number).
_NEGATIVE_NUMBER = re.compile(r"-\d+$|-\d*\.\d+$")
_PY_MODULES = {
    "vllm.entrypoints.openai.api_server": "python -m vllm.entrypoints.openai.api_server",
    "vllm.entrypoints.api_server": "python -m vllm.entrypoints.api_server",
    "vllm.entrypoints.launchers.api_server.entry": "python -m vllm.entrypoints.launchers.api_server.entry",
}
# Commands that run the next word as a program (what a shell would end up running), with the options of
# theirs that take a value (so the value is not mistaken for the program).
_PREFIX_WORDS: dict[str, frozenset[str]] = {
    "exec": frozenset({"-a"}),
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "nohup": frozenset(),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "command": frozenset(),
    "sudo": frozenset({"-u", "--user", "-g", "--group", "-C", "-D", "--chdir", "-h", "--host", "-p",
                       "--prompt", "-r", "--role", "-t", "--type", "-T", "--command-timeout"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "stdbuf": frozenset(),
}
# Shell words that end the first command (`vllm serve ... &`, `... | tee log`, `...; echo done`).
_COMMAND_ENDS = {"&", "&&", "|", "||", ";", "|&"}
# A redirection word: `>log`, `2>&1`, `&>log`, `<in`, or the operator alone (its file is the next word).
_REDIRECT = re.compile(r"(\d*|&)(>>?|<|>&|<&)(.*)")

Launcher = Literal[
    "vllm serve",
    "python -m vllm.entrypoints.openai.api_server",
    "python -m vllm.entrypoints.api_server",
    "python -m vllm.entrypoints.launchers.api_server.entry",
    "none",
]


@dataclass(frozen=True)
class ParsedFlag:
    """One option occurrence in the argv, for findings that point at a word (and so at a line)."""

    index: int                       # position of the option word in the argv given to the parser
    written: str                     # the option as written (`--max_model_len`, `-tp`, `-O3`)
    spelling: str                    # the exact spelling it resolves to in the version ('' if unknown)
    dest: str | None                 # vLLM's dest, None for unknown or removed flags
    value: str | None                # the raw value (multiple values shell-joined), None for switches
    status: str                      # flag_status: ok / unknown / removed / renamed / not_yet
    message: str = ""
    deprecated: str | None = None
    hint: str | None = None          # what to do about a flag that is not ok (advice, replacement)


@dataclass(frozen=True)
class ServeCommand:
    """A parsed `vllm serve` command: the model, its engine arguments, environment and what was not understood."""

    model: str | None
    args: EngineArgs
    env: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    removed: list[tuple[str, str | None]] = field(default_factory=list)   # (flag, replacement)
    flags: tuple[ParsedFlag, ...] = ()
    launcher: Launcher = "vllm serve"
    version: str = DEFAULT_VERSION
    model_index: int | None = None    # argv position of the model word (positional or --model value)
    offset: int = 0                   # argv position where the launcher's own arguments begin

    def flag(self, dest: str) -> ParsedFlag | None:
        """The last occurrence of a flag by vLLM dest (the one argparse keeps)."""
        return next((f for f in reversed(self.flags) if f.dest == dest), None)


def split_command(text: str) -> list[str]:
    """A shell command string -> the words of its first command, as the shell would run it.

    `\\` line continuations are joined and quotes honoured; the command ends at `&`, `|`, `;`, `&&`;
    redirections (`> log`, `2>&1`) are the shell's, not the program's, and are dropped.
    """
    joined = re.sub(r"\\\r?\n", " ", text)
    try:
        # Operators written apart (`... &`, `2>&1`, `| tee`) are what pasted commands have; plain
        # posix splitting keeps a quoted `&` or `>` inside its word.
        words = shlex.split(joined, comments=False, posix=True)
    except ValueError as exc:       # unbalanced quotes
        raise PlannerError(f"cannot split the command line: {exc}", code="bad_command") from None
    return shell_words(words)


def shell_words(words: list[str]) -> list[str]:
    """The words of the first command in `words`, without the shell's operators and redirections."""
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in _COMMAND_ENDS:
            break
        m = _REDIRECT.fullmatch(word)
        if m is not None and out:
            skip = m.group(3) == ""           # `> log`: the file is the next word
            continue
        out.append(word)
    return out


def find_launcher(argv: list[str]) -> tuple[dict[str, str], Launcher, int] | None:
    """(env, launcher, index of the first serve argument) when argv runs vLLM's server, else None.

    `none` is never returned here: a bare argument list is only recognised by the caller who knows
    that the container's entrypoint is vLLM.
    """
    env: dict[str, str] = {}
    i = 0
    prefix: str | None = None          # the prefix command whose options are being read
    while i < len(argv):
        word = argv[i]
        if _ENV_WORD.match(word):
            key, value = word.split("=", 1)
            env[key] = value
            if is_secret_env(key):
                remember(value)
        elif word.rsplit("/", 1)[-1] in _PREFIX_WORDS:
            prefix = word.rsplit("/", 1)[-1]
        elif prefix is not None and word.startswith("-") and word != "--":
            if word in _PREFIX_WORDS[prefix]:
                i += 1                  # its value
        elif prefix is not None and word == "--":
            pass
        else:
            break
        i += 1
    if i >= len(argv):
        return None
    head = argv[i].rsplit("/", 1)[-1]
    if head == "vllm" and argv[i + 1:i + 2] == ["serve"]:
        return env, "vllm serve", i + 2
    if re.fullmatch(r"python(\d+(\.\d+)?)?", head):
        j = i + 1
        while j < len(argv) and argv[j].startswith("-") and argv[j] != "-m":
            j += 1                                   # interpreter options such as -u
        if argv[j:j + 1] == ["-m"] and j + 1 < len(argv):
            module = argv[j + 1]
            if module in _PY_MODULES:
                return env, _PY_MODULES[module], j + 2  # type: ignore[return-value]
            if module in ("vllm.entrypoints.cli.main", "vllm") and argv[j + 2:j + 3] == ["serve"]:
                return env, "vllm serve", j + 3
    return None


def _takes_value_word(word: str) -> bool:
    return not word.startswith("-") or bool(_NEGATIVE_NUMBER.match(word)) or word == "-"


def _convert(info: FlagInfo, raw: str, written: str, *, key_value_json: bool = False) -> object:
    """Convert one value the way vLLM's `type=` does; reject what it would reject.

    `key_value_json`: the release's parse_type(json.loads) also takes `KEY=VALUE,...` (0.8-0.9,
    VersionRules.json_flags_take_key_value)."""
    t = info.value_type
    if key_value_json and t == "json" and raw and not re.match(r"(?s)^\s*{.*}\s*$", raw):
        return nullable_kvs(raw, written)
    if len(raw) > MAX_VALUE_CHARS and t not in ("json", "json_or_str", "str"):
        # int() of a 5,000-digit word is slow and argparse would take it; nothing vLLM sizes is that big.
        raise PlannerError(f"{written}: a value of {len(raw)} characters is not a valid value",
                           code="bad_flag_value")
    try:
        # argparse converts with `type` first and checks `choices` on the converted value
        # (Literal[8, 16, ...] choices are ints, so `--block-size 016` is 16).
        if info.choices is not None:
            key = str(int(raw)) if t == "int" else raw
            if key not in info.choices:
                raise PlannerError(
                    f"{written}: invalid choice {raw!r}", code="bad_flag_value",
                    hint="choose from " + ", ".join(info.choices),
                )
        if t == "store_boolean":
            # vllm/utils.py StoreBoolean (0.6.x): `true`/`false` in any case, nothing else.
            if raw.lower() not in ("true", "false"):
                raise PlannerError(f"{written}: invalid boolean value {raw!r}", code="bad_flag_value",
                                   hint="expected 'true' or 'false'")
            return raw.lower() == "true"
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
        if t == "human_int":
            return parse_human_int(raw, flag=written)
        if t == "human_int_or_auto":
            if raw.strip() == "-1" or raw.strip().lower() == "auto":
                return -1
            return parse_human_int(raw, flag=written)
        if t == "json" or (t == "json_or_str" and re.match(r"(?s)^\s*{.*}\s*$", raw)):
            return json.loads(raw)
        return raw
    except PlannerError:
        raise
    except (ValueError, OverflowError, RecursionError) as exc:
        kind = {"int": "an integer", "float": "a number", "json": "JSON"}.get(t, "a valid value")
        raise PlannerError(f"{written}: invalid value {raw!r}: expected {kind}", code="bad_flag_value",
                           hint=str(exc)[:120] if t == "json" else None) from None


def _engine_value(name: str, info: FlagInfo, written: str, negative: bool, raw: str | None, *,
                  key_value_json: bool = False) -> object:
    """The EngineArgs field value of one flag occurrence, converted by the release's own flag facts."""
    if info.is_boolean:
        return not negative
    if raw is None:
        if info.value_type == "store_boolean":
            return True                       # StoreBoolean's const="True": a bare switch
        raise PlannerError(f"{written}: expected one argument", code="bad_flag_value")
    value = _convert(info, raw, written, key_value_json=key_value_json)
    if name == "quantization" and value in ("", "None"):
        return None                           # vLLM's optional_type maps "" / "None" to None
    return _as_field_type(name, value, written)


def _as_field_type(name: str, value: object, written: str) -> object:
    """`value` as the EngineArgs field's type, or a clean error.

    The flag table says how each release converts the word; a release may register a field with a type
    the memory model does not compute with (a `str` choice, a JSON value). What the model cannot use
    is bad input here, never a TypeError later.
    """
    kinds = _FIELD_KINDS[name]
    if isinstance(value, bool):
        if bool in kinds:
            return value
    elif isinstance(value, int):
        if int in kinds:
            return value
        if float in kinds:
            return float(value)
    elif isinstance(value, float):
        if float in kinds:
            return value
        if int in kinds and value.is_integer() and math.isfinite(value):
            return int(value)
    elif isinstance(value, dict | list):
        if str in kinds:
            # A JSON flag held as text (--speculative-config, --limit-mm-per-prompt): kept as JSON.
            return json.dumps(value)
    elif isinstance(value, str):
        if str in kinds:
            return value
        if int in kinds and re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
            return int(value)
        if float in kinds:
            try:
                return float(value)
            except ValueError:
                pass
    want = " or ".join(sorted(k.__name__ for k in kinds if k is not type(None)))
    raise PlannerError(f"{written}: invalid value {str(value)[:40]!r}: expected {want}", code="bad_flag_value")


def parse_serve_argv(argv: list[str] | str, version: str = DEFAULT_VERSION, *,
                     read_config: bool = False, what_if: bool = False) -> ServeCommand:
    """Parse a `vllm serve` command line (a word list or one shell string) for vLLM `version`.

    Flags the version does not parse are reported (`unknown`, `removed`), not raised: a checker wants
    them all. Values vLLM would reject (bad type, bad choice, out of range) raise PlannerError.
    With `read_config`, `--config FILE` is read and spliced in as vLLM does (planner.release.serve_config);
    without it (a file named in a manifest lives in the image, not here) it stays a passthrough flag.
    With `what_if`, the WHAT_IF_FLAGS are accepted on releases that predate them.
    """
    words = split_command(argv) if isinstance(argv, str) else [str(w) for w in argv]
    if len(words) == 1 and not isinstance(argv, str) and any(c.isspace() for c in words[0]):
        words = split_command(words[0])      # one string in a list: a pasted command line
    found = find_launcher(words)
    if found is not None:
        env, launcher, start = found
    else:
        # Bare serve arguments (what a vllm/vllm-openai container passes to its entrypoint).
        env, launcher, start = {}, "none", 0
        while start < len(words) and _ENV_WORD.match(words[start]):
            key, value = words[start].split("=", 1)
            env[key] = value
            if is_secret_env(key):
                remember(value)
            start += 1
        if start < len(words) and _looks_like_program(words[start]):
            raise PlannerError(
                f"not a vLLM server command: {shlex.join(words[start:start + 3])}", code="not_vllm",
                hint="expected `vllm serve MODEL ...` or `python -m vllm.entrypoints.openai.api_server ...`",
            )
    # `python -m ...api_server MODEL` is refused by releases whose API-server parser has no positional.
    positional = launcher in ("vllm serve", "none") or api_server_takes_positional_model(version)
    if read_config:
        from planner.release.serve_config import expand_config  # noqa: PLC0415 - pulls PyYAML; only for --config

        words = expand_config(words, start, version, model_first=launcher in ("vllm serve", "none"))
    p = _Parser(words, version, positional_model=positional, what_if=what_if)
    p.run(start)
    engine = EngineArgs(**p.values, passthrough=tuple(p.passthrough.values()))  # type: ignore[arg-type]
    return ServeCommand(model=p.model, args=engine, env=env, unknown=p.unknown, removed=p.removed,
                        flags=tuple(p.parsed), launcher=launcher, version=version,
                        model_index=p.model_index, offset=start)


class _Parser:
    """The argparse walk over serve arguments, one option at a time."""

    def __init__(self, words: list[str], version: str, *, positional_model: bool, what_if: bool = False) -> None:
        self.what_if = what_if
        self.words = words
        self.version = version
        try:
            self.key_value_json = rules_for(version).json_flags_take_key_value
        except PlannerError:
            self.key_value_json = False
        self.positional_model = positional_model
        self.values: dict[str, object] = {}
        self.passthrough: dict[str, tuple[str, str | None]] = {}
        self.parsed: list[ParsedFlag] = []
        self.unknown: list[str] = []
        self.removed: list[tuple[str, str | None]] = []
        self.model: str | None = None
        self.model_index: int | None = None

    def run(self, i: int) -> None:
        words = self.words
        while i < len(words):
            word = words[i]
            if word == "--":                   # argparse: everything after is positional
                self.unknown.extend(words[i + 1:])
                return
            if not word.startswith("-") or word == "-" or _NEGATIVE_NUMBER.match(word):
                if self.model is None and self.positional_model:
                    self.model, self.model_index = word, i
                else:
                    self.unknown.append(word)   # argparse: "unrecognized arguments"
                i += 1
                continue
            i = self.option(i)

    def _split(self, word: str) -> tuple[str, str | None]:
        """(option, value glued to it or None) for one option word."""
        if word.startswith("-O.") and "=" in word:
            option, value = word.split("=", 1)           # -O.level=3 (dotted key of -O, 0.10-0.11)
            return option, value
        if word.startswith("-O") and not word.startswith(("--", "-O.")):
            # -O3, -O=3, -O 3  ->  --optimization-level 3 (FlexibleArgumentParser.parse_args)
            return "-O", (word[3:] if word[2:3] == "=" else word[2:]) or None
        if "=" in word:
            option, value = word.split("=", 1)
            return option, value
        if not word.startswith("--") and len(word) > 2 and resolve(word, self.version) == word[:2]:
            return word[:2], word[2:]           # -qfp8: value glued to a one-letter short option
        return word, None

    def _value(self, i: int, written: str) -> str:
        if i + 1 < len(self.words) and _takes_value_word(self.words[i + 1]):
            return self.words[i + 1]
        raise PlannerError(f"{written}: expected one argument", code="bad_flag_value")

    def option(self, i: int) -> int:
        """Consume the option at words[i] (and its values); return the index after it."""
        words, version = self.words, self.version
        written, inline = self._split(words[i])
        status = flag_status(written, version)
        if status == "not_yet" and self.what_if and status.info is not None and status.info.name in WHAT_IF_FLAGS:
            status = flag_status(written, LATEST)
        if status != "ok":
            hist = status.info
            # An unknown flag is assumed to take the next word as its value unless that is an option.
            takes = hist.takes_value if hist is not None else True
            raw = inline
            nxt = i + 1
            if inline is None and takes and i + 1 < len(words) and _takes_value_word(words[i + 1]):
                raw, nxt = words[i + 1], i + 2
            if status in ("removed", "renamed"):
                self.removed.append((written, status.replacement))
            else:
                self.unknown.append(written)
            self.parsed.append(ParsedFlag(i, written, "", None, raw, str(status), status.message,
                                          hint=status.hint))
            return nxt
        info = status.info
        assert info is not None
        spelling = resolve(written, version) or written
        if written.startswith(("--", "-O.")) and "." in written:
            # --json-arg.key value: vLLM merges these into one JSON object (value: JSON, number or text).
            name = f"{info.name}.{written.split('.', 1)[1]}"
            raw = inline if inline is not None else self._value(i, written)
            self.passthrough[name] = (name, raw)
            self.parsed.append(ParsedFlag(i, written, info.name, info.dest, raw, "ok",
                                          deprecated=info.deprecated))
            return i + (1 if inline is not None else 2)
        nxt = i + 1
        if info.nargs == "0":
            if inline is not None:
                raise PlannerError(f"{written}: ignored explicit argument {inline!r}", code="bad_flag_value",
                                   hint=f"{info.name} is a switch and takes no value")
            raw = None
        elif info.nargs == "?":
            raw = inline
            if inline is None and i + 1 < len(words) and not words[i + 1].startswith("-"):
                raw, nxt = words[i + 1], i + 2
        elif info.nargs == "+":
            items = [inline] if inline is not None else []
            if inline is None:
                while nxt < len(words) and _takes_value_word(words[nxt]):
                    items.append(words[nxt])
                    nxt += 1
            if not items:
                raise PlannerError(f"{written}: expected at least one argument", code="bad_flag_value")
            for item in items:
                _convert(info, item, written)
            raw = shlex.join(items)
        else:
            raw = inline if inline is not None else self._value(i, written)
            nxt = i + (1 if inline is not None else 2)
        if info.dest in SECRET_DESTS:
            remember(raw)
            for item in shlex.split(raw or "") if info.nargs == "+" else ():
                remember(item)
        self.parsed.append(ParsedFlag(i, written, spelling, info.dest, raw, "ok", deprecated=info.deprecated))
        negative = spelling in info.negatives
        if info.dest == "model":
            self.model, self.model_index = raw, (i if inline is not None else i + 1)
        elif info.dest in _ENGINE_FIELDS:
            self.values[info.dest] = _engine_value(info.dest, info, written, negative, raw,
                                                   key_value_json=self.key_value_json)
        else:
            if raw is not None and info.nargs != "+":
                _convert(info, raw, written, key_value_json=self.key_value_json)
            # Last occurrence wins (argparse); a switch and its negative share one dest.
            self.passthrough.pop(info.dest, None)
            self.passthrough[info.dest] = (_canonical(info, spelling, negative), raw)
        return nxt


def _looks_like_program(word: str) -> bool:
    """A first word that is a program (bash, sglang, /usr/bin/x), not a model id given bare."""
    base = word.rsplit("/", 1)[-1]
    return base in _PREFIX_WORDS or base in {
        "bash", "sh", "python", "python3", "sglang", "text-generation-launcher", "vllm", "ollama", "tritonserver",
        "trtllm-serve", "node", "java"} or base.startswith("python")


def _canonical(info: FlagInfo, spelling: str, negative: bool) -> str:
    """The long spelling to keep for a passthrough flag: `-sc` -> `--speculative-config`."""
    if negative:
        return spelling if spelling.startswith("--") else "--no-" + info.name[2:]
    return info.name


def _format_value(name: str, value: object) -> str:
    if name == "max_model_len" and value == -1:
        return "auto"
    if name == "kv_cache_memory_bytes" and isinstance(value, int) and value and value % 2**30 == 0:
        return f"{value // 2**30}G"            # vLLM reads upper-case suffixes as binary
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_serve_argv(
    model: str,
    args: EngineArgs,
    version: str = DEFAULT_VERSION,
    *,
    explicit: tuple[str, ...] = DEFAULT_EXPLICIT,
) -> list[str]:
    """`["vllm", "serve", model, ...]` in vLLM's spellings: every field that differs from the default,
    the `explicit` ones always (their resolved values must be set), and the passthrough flags.
    Raises PlannerError when `version` has no such flag.
    """
    out = ["vllm", "serve", model]
    for name, f in _ENGINE_FIELDS.items():
        value = getattr(args, name)
        if name in explicit and value is None:
            raise PlannerError(f"to_serve_argv: {name} must be resolved to a value to be emitted",
                               code="unresolved_arg")
        if value == f.default and name not in explicit:
            continue
        info = _engine_flag(name, version)
        if info.is_boolean:
            if value is None:
                continue
            # `--no-x` is what every release with BooleanOptionalAction accepts (0.33.0 still does).
            out.append(info.name if value else "--no-" + info.name[2:])
            if not value and not _exists("--no-" + info.name[2:], version):
                raise PlannerError(f"vLLM {version} has no way to turn {info.name} off", code="unknown_flag")
        else:
            out += [info.name, _format_value(name, value)]
    for spelling, value in args.passthrough:
        if not _exists(spelling, version):
            raise PlannerError(f"{spelling} is not a vLLM {version} `vllm serve` option",
                               code="unknown_flag", hint=flag_status(spelling, version).message)
        out.append(spelling)
        if value is not None:
            value_info = flag_info(spelling, version)
            out += shlex.split(value) if value_info is not None and value_info.nargs == "+" else [value]
    return out


def _exists(spelling: str, version: str) -> bool:
    try:
        return resolve(spelling, version) is not None
    except PlannerError:
        return False


def _engine_flag(name: str, version: str) -> FlagInfo:
    spelling = "--" + name.replace("_", "-")
    info = flag_info(spelling, version)
    if info is None or not _exists(spelling, version) or info.dest != name:
        raise PlannerError(f"vLLM {version} has no {spelling} flag", code="unknown_flag",
                           hint=flag_status(spelling, version).message)
    return info
