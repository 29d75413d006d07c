"""A small POSIX-shell tokenizer that keeps the line of every word.

`shlex` loses positions, and findings must point at the line of the flag. This splits a script into
simple commands (at newlines, `;`, `&`, `|`, `&&`, `||`, parentheses), with quotes, backslash escapes,
line continuations and comments handled as the shell does. Expansions (`$X`, `$(...)`) stay as text;
`expand()` substitutes the variables whose values are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.errors import PlannerError


@dataclass(frozen=True)
class Word:
    text: str
    line: int            # 1-based line in the file
    quoted: bool = False  # some part was quoted (so an assignment-looking word is not an assignment)


_SEPARATORS = set(";&|()\n")


def tokenize(text: str, first_line: int = 1) -> list[list[Word]]:
    """Simple commands of a script, each a list of words with lines. Raises PlannerError on an
    unterminated quote."""
    commands: list[list[Word]] = []
    words: list[Word] = []
    buf: list[str] = []
    in_word = False
    quoted = False
    start_line = line = first_line
    i, n = 0, len(text)

    def end_word() -> None:
        nonlocal buf, in_word, quoted
        if in_word:
            words.append(Word("".join(buf), start_line, quoted))
        buf, in_word, quoted = [], False, False

    def end_command() -> None:
        nonlocal words
        end_word()
        if words:
            commands.append(words)
        words = []

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":          # line continuation
                line += 1
                i += 2
                continue
            if not in_word:
                in_word, start_line = True, line
            buf.append(text[i + 1])
            i += 2
            continue
        if c in "'\"":
            if not in_word:
                in_word, start_line = True, line
            quoted = True
            j = i + 1
            while j < n and text[j] != c:
                if c == '"' and text[j] == "\\" and j + 1 < n and text[j + 1] in '$`"\\\n':
                    if text[j + 1] == "\n":
                        line += 1
                    else:
                        buf.append(text[j + 1])
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise PlannerError(f"unterminated {c} quote starting on line {start_line}", code="bad_command")
            i = j + 1
            continue
        if c == "#" and not in_word:
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == "$" and i + 1 < n and text[i + 1] == "(":
            # Keep a command substitution as one piece of text: $(...) with nesting.
            if not in_word:
                in_word, start_line = True, line
            depth, j = 0, i + 1
            while j < n:
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                elif text[j] == "\n":
                    line += 1
                j += 1
            buf.append(text[i:j + 1])
            i = j + 1
            continue
        if c in " \t\r":
            end_word()
            i += 1
            continue
        if c in _SEPARATORS:
            end_command()
            if c == "\n":
                line += 1
            i += 1
            continue
        if not in_word:
            in_word, start_line = True, line
        buf.append(c)
        i += 1
    end_command()
    return commands


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)


def expand(word: str, variables: dict[str, str]) -> str:
    """Substitute `$X`, `${X}` and `${X:-default}` where the value is known; leave the rest as is."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in variables:
            return variables[name]
        if m.group(2) is not None:
            return m.group(2)
        return m.group(0)

    return _VAR.sub(sub, word)


def assignments(command: list[Word]) -> dict[str, str] | None:
    """`X=1 Y=2` (optionally after `export`/`readonly`/`local`) -> {X: 1, Y: 2}; None when the command
    does something else."""
    words = command[1:] if command and command[0].text in ("export", "readonly", "local", "declare") else command
    out: dict[str, str] = {}
    for w in words:
        m = _ASSIGN.fullmatch(w.text)
        if not m:
            return None
        out[m.group(1)] = m.group(2)
    return out or None


def is_dynamic(word: str) -> bool:
    """A word whose value is only known at run time (a variable or command substitution left in it)."""
    return "$" in word or "`" in word


# Words a shell runs before the command itself: reserved words that open a compound command or a
# pipeline, and the wrappers that run their arguments as a command (with the options that take a value,
# and how many operands come before the command). `vllm serve` after any of them is still vLLM.
RESERVED = {"if", "then", "else", "elif", "do", "while", "until", "!", "{"}
# name -> (options that take the next word as their value, operands before the command)
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group", "--host",
                        "--prompt", "--chdir", "--role", "--type", "--other-user", "--close-from",
                        "--command-timeout"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "-C", "-S", "--unset", "--chdir", "--split-string"}), 0),
    "exec": (frozenset({"-a"}), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "-o", "--format", "--output"}), 0),
    "command": (frozenset(), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "--class", "--classdata"}), 0),
    "setsid": (frozenset(), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "taskset": (frozenset(), 1),
    "numactl": (frozenset({"-N", "-m", "-C", "-i", "-p", "-P"}), 0),
    "tini": (frozenset({"-p", "-e"}), 0),
    "dumb-init": (frozenset({"-r", "--rewrite"}), 0),
}
_TASKSET_LIST = {"-c", "--cpu-list"}


def command_start(words: list[str]) -> tuple[int, dict[str, str]]:
    """(index of the command a shell would run, variables assigned for it) for one simple command:
    `if`/`then`/`do`/`!` and `sudo -u x`, `nohup`, `exec`, `time -p`, `env -i A=1`, `timeout 5m`, ...
    are skipped; `A=1` words before the command are returned as its environment."""
    env: dict[str, str] = {}
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        m = _ASSIGN.fullmatch(w)
        if m:
            env[m.group(1)] = m.group(2)
            i += 1
            continue
        if w in RESERVED:
            i += 1
            continue
        name = w.rsplit("/", 1)[-1]
        if name not in WRAPPERS:
            break
        takes_value, operands = WRAPPERS[name]
        i += 1
        while i < n and words[i].startswith("-") and len(words[i]) > 1:
            opt = words[i]
            i += 1
            if opt == "--":
                break
            if name == "taskset" and opt in _TASKSET_LIST:
                operands = 1                 # the cpu list is the operand
            if opt in takes_value:           # `-u x`; `-ux`, `--user=x` and `nice -10` are one word
                i += 1
        i += operands
    return min(i, n), env


def substitutions(text: str, line: int) -> list[tuple[str, int]]:
    """The scripts inside `$(...)` and backquotes of a word, each with the line it starts on: a
    command substitution runs its command too (`X=$(vllm serve ...)`)."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("$(", i) and not text.startswith("$((", i):
            depth, j = 1, i + 2
            while j < n and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            out.append((text[i + 2:j - 1 if depth == 0 else j], line + text[:i].count("\n")))
            i = j
        elif text[i] == "`":
            j = text.find("`", i + 1)
            j = n if j < 0 else j
            out.append((text[i + 1:j], line + text[:i].count("\n")))
            i = j + 1
        else:
            i += 1
    return out
