"""`vllm serve --config FILE.yaml`: the file's settings spliced into the command line as vLLM does it.

Follows FlexibleArgumentParser (vllm/utils/argparse_utils.py in 0.33.0; vllm/utils.py in 0.6.6.post1):
`_pull_args_from_config` inserts the file's arguments right after the subcommand and the model (or at the
front, for the api_server entry point), so flags on the command line come later and win (cli > config >
defaults); `load_config_file` turns each `key: value` into `--key value`. Keys may use `_` or `-`: the
parser turns `_` into `-` in every option name afterwards. Only the exact word `--config` triggers it
(`"--config" in args`), as in vLLM.

How values become words differs by release (both read from the source):
- 0.33.0: `true` -> `--key`; `false` -> `--no-key` when the parser registers exactly that spelling,
  else nothing; a list -> `--key item...` (nothing when empty); a mapping -> `--key '<JSON>'`;
  anything else -> `--key str(value)`.
- 0.6.6.post1: a boolean of a StoreBoolean option -> `--key True|False`; another `true` -> `--key`,
  `false` -> nothing; anything else -> `--key str(value)`.
Releases in between were not read here; they get 0.33.0's rules from 0.8 on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from planner.errors import PlannerError
from planner.release.vllm_flags import flag_info, known_flags, parse_version

# A settings file is a few KB; a bigger one is not read (and a YAML alias tree is not expanded).
MAX_CONFIG_BYTES = 1 << 20
MAX_NODES = 100_000


def _cannot_read(path: str, why: str) -> PlannerError:
    return PlannerError(f"--config: cannot read {path[:200]}: {why}", code="cannot_read")


def _count_nodes(value: Any, path: str) -> None:
    """Walk the loaded document; aliases make a small file a huge tree, which JSON would expand."""
    seen = 0
    stack = [value]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise _cannot_read(path, f"more than {MAX_NODES:,} values (YAML aliases expand to too much)")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def read_config_mapping(path: str) -> dict[str, Any]:
    """The YAML mapping in `path`, as vLLM's `yaml.safe_load` gives it, or a clean "cannot read"."""
    import yaml  # noqa: PLC0415 - PyYAML only when a --config file is read

    extension = path.split(".")[-1]
    if extension not in ("yaml", "yml"):
        # vLLM: "Config file must be of a yaml/yml type."
        raise _cannot_read(path, f"vLLM reads only .yaml or .yml files, not .{extension[:20]}")
    try:
        p = Path(path)
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise _cannot_read(path, f"larger than {MAX_CONFIG_BYTES // 1024} KiB")
        text = p.read_text(encoding="utf-8")
    except PlannerError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _cannot_read(path, type(exc).__name__ if not isinstance(exc, OSError)
                           else (exc.strerror or type(exc).__name__)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _cannot_read(path, f"malformed YAML{where}") from None
    except (ValueError, TypeError, IndexError, RecursionError) as exc:   # PyYAML's own crashes on odd input
        raise _cannot_read(path, f"malformed YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _cannot_read(path, "not a mapping of `flag: value` settings")
    _count_nodes(data, path)
    return data


def config_args(path: str, version: str) -> list[str]:
    """`load_config_file` of `version`: the file's settings as command-line words."""
    data = read_config_mapping(path)
    old = parse_version(version) < (0, 7, 0, 0)
    known = known_flags(version)
    out: list[str] = []
    for key, value in data.items():
        key = str(key)
        if isinstance(value, bool):
            if old:
                info = flag_info("--" + key, version)
                if info is not None and info.value_type == "store_boolean":
                    out += ["--" + key, str(value)]
                elif value:
                    out.append("--" + key)
            elif value:
                out.append("--" + key)
            elif f"--no-{key}" in known:
                out.append(f"--no-{key}")
        elif old:
            out += ["--" + key, str(value)]
        elif isinstance(value, list):
            if value:
                out += ["--" + key, *(str(item) for item in value)]
        elif isinstance(value, dict):
            out += ["--" + key, json.dumps(value)]
        else:
            out += ["--" + key, str(value)]
    return out


def expand_config(words: list[str], start: int, version: str, *, model_first: bool) -> list[str]:
    """`words` with `--config FILE` replaced by the file's arguments where vLLM puts them.

    `start` is where the launcher's own arguments begin; `model_first` says whether a positional
    model may follow it (`vllm serve MODEL`), which keeps its place in front of the file's arguments.
    """
    rest = words[start:]
    if "--config" not in rest:
        return words
    if rest.count("--config") > 1:
        raise PlannerError("more than one --config file", code="bad_flag_value",
                           hint="vLLM reads one config file")
    index = rest.index("--config")
    if index == len(rest) - 1:
        raise PlannerError("--config: no config file given", code="bad_flag_value")
    inserted = config_args(rest[index + 1], version)
    before, after = rest[:index], rest[index + 2:]
    if model_first and before and not before[0].startswith("-"):
        spliced = before[:1] + inserted + before[1:] + after
    else:
        spliced = inserted + before + after
    return words[:start] + spliced
