"""The terminal a person reads: its width, whether it takes colour, and text laid out to fit it.

Every human output goes through here, so that the rules are the same everywhere:

- width: `COLUMNS` when set (as a shell exports it, and as tests set it), else the terminal's own width,
  else 80 (piped output and files are laid out for 80 columns, the width of a pager or a CI log);
- colour: none when `NO_COLOR` is set to anything (https://no-color.org), when the stream is not a
  terminal (a pipe, a file, a CI log) or when `TERM=dumb`; `FORCE_COLOR` turns it on for a pipe. Without
  colour no ANSI code at all is written (not even bold), so `grep` and diff see plain text;
- wrapping at word boundaries only (a repo id, a path or a flag is never cut), with hanging indents;
- verbatim lines (a `vllm serve` command, vLLM's own log lines) are never wrapped: callers print them
  with `soft_wrap=True` (rich) or write them directly.

rich is imported inside the functions: `planner --help` must not pay for it (tests/test_imports.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_WIDTH = 80     # piped output, files, and terminals that do not say
MIN_WIDTH = 20         # narrower than this, layouts give up on fitting and wrap per word


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def width(stream: IO[str] | None = None) -> int:
    """Columns to lay out for: $COLUMNS, else the terminal's width, else 80 (a pipe or a file)."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return max(MIN_WIDTH, int(env))
    stream = sys.stdout if stream is None else stream
    if _isatty(stream):
        try:
            cols = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            cols = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
        return max(MIN_WIDTH, cols or DEFAULT_WIDTH)
    return DEFAULT_WIDTH


def colour(stream: IO[str] | None = None) -> bool:
    """Whether to write ANSI styles to `stream` (NO_COLOR > FORCE_COLOR > TERM=dumb > is a terminal)."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    if os.environ.get("TERM", "") == "dumb":
        return False
    return _isatty(sys.stdout if stream is None else stream)


def console(*, stderr: bool = False, file: IO[str] | None = None, cols: int | None = None,
            styled: bool | None = None) -> Console:
    """A rich Console that follows the rules above: the width of `width()`, and no ANSI code at all
    without colour (rich alone would keep bold and underline under NO_COLOR). `styled=False` for text
    that goes to a file (a report written with --output), whatever the environment says."""
    from rich.console import Console  # noqa: PLC0415 - rich only for human output

    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    if styled is None:
        styled = colour(stream)
    return Console(file=file, stderr=stderr, width=cols or width(stream), highlight=False, emoji=False,
                   color_system="auto" if styled else None, force_terminal=True if styled else None,
                   no_color=not styled)


# Stands for a space inside a `keep` span while textwrap breaks the text (a NUL is in no report text).
_HELD = "\x00"


def wrap(text: str, cols: int, *, indent: str | int = "", subsequent: str | int | None = None,
         keep: Sequence[str] = ()) -> list[str]:
    """`text` in lines of at most `cols` columns, broken at spaces only (never inside a word, a flag or a
    repo id: a word longer than the line gets a line of its own). `indent` starts the first line,
    `subsequent` (default: `indent`) the others; ints are that many spaces. `keep`: substrings of `text`
    that are never broken (a command or a snippet to copy, `--max-model-len 8192`): each is one word to
    the wrapper, on a line of its own when it is longer than the line."""
    first = " " * indent if isinstance(indent, int) else indent
    rest = first if subsequent is None else (" " * subsequent if isinstance(subsequent, int) else subsequent)
    # A hanging indent wider than the line would leave no room: keep at least MIN_WIDTH for the text.
    cols = max(cols, len(first) + MIN_WIDTH // 2, len(rest) + MIN_WIDTH // 2)
    for span in keep:
        text = text.replace(span, span.replace(" ", _HELD))
    lines = textwrap.wrap(text, width=cols, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace(_HELD, " ") for line in lines] or [first.rstrip()]


def wrap_lines(lines: Sequence[str], cols: int, *, hang: int = 2, keep: Sequence[str] = ()) -> list[str]:
    """Each prose line through `wrap`, under its own leading indent, its continuation lines `hang` columns
    further in. For reports built as lines (perf, cost); verbatim lines (vLLM's block, a command) are not
    passed here."""
    out: list[str] = []
    for line in lines:
        lead = line[:len(line) - len(line.lstrip(" "))]
        out.extend(wrap(line[len(lead):], cols, indent=lead, subsequent=len(lead) + hang, keep=keep)
                   if line.strip() else [line])
    return out


def pack(items: Sequence[str], cols: int, *, sep: str = " · ", first: str = "", indent: str = "") -> list[str]:
    """Items joined by `sep` in lines of at most `cols` columns, a new line started before an item that
    would pass the edge: an item that fits a line is never split ('max_num_seqs 256' stays whole), one
    longer than a line is wrapped at its spaces. `first` starts the first line, `indent` the others; the
    separator stays at the end of the line it closes (and counts towards its width)."""
    tail = sep.rstrip()
    lines: list[str] = []
    line = ""
    for n, item in enumerate(items):
        last = n == len(items) - 1
        room = cols - (0 if last else len(tail))
        if line and len(line) + len(sep) + len(item) <= room:
            line += sep + item
            continue
        if line:
            lines.append(line + tail)
        lead = indent if lines else first
        if len(lead) + len(item) > room:
            parts = wrap(item, room, indent=lead, subsequent=indent)
            lines.extend(parts[:-1])
            line = parts[-1]
        else:
            line = lead + item
    if line:
        lines.append(line)
    return lines


@dataclass(frozen=True)
class Column:
    """One column of `table`. `wrap`: the cell may take several lines, broken at spaces (never narrower
    than its longest word or `min_width`); `spill`: when the rows do not fit, the cell moves to a line of
    its own below its row (and its header to a second header line)."""

    header: str
    justify: Literal["left", "right"] = "left"
    wrap: bool = False
    spill: bool = False
    min_width: int = 0


def _cell(text: str, w: int, justify: str) -> str:
    return text.rjust(w) if justify == "right" else text.ljust(w)


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]], cols: int, *, gap: int = 2,
          spill_indent: int = 4) -> tuple[list[str], list[str]]:
    """(header lines, body lines) of a plain-text table of at most `cols` columns per line (no colour:
    style the lines after).

    Columns take the width of their longest cell. When the total is wider than `cols`: `spill` columns
    move below their row (indented by `spill_indent`), then `wrap` columns are narrowed to what is left
    and wrapped at spaces. Nothing is cut inside a word; a single word wider than the line still gets
    its own line. No trailing spaces.
    """
    widths = [max([len(c.header)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    inline = [i for i in range(len(columns)) if not (columns[i].spill and _too_wide(widths, gap, cols))]
    spilled = [i for i in range(len(columns)) if i not in inline]

    def total(idx: list[int]) -> int:
        return sum(widths[i] for i in idx) + gap * (len(idx) - 1)

    over = total(inline) - cols
    if over > 0:
        for i in reversed(inline):
            c = columns[i]
            if not c.wrap or over <= 0:
                continue
            longest_word = max([len(w) for r in rows for w in r[i].split()] + [len(c.header), c.min_width])
            can = widths[i] - longest_word
            take = min(can, over)
            widths[i] -= take
            over -= take
    head = [_cell(columns[i].header, widths[i], columns[i].justify) for i in inline]
    header = [(" " * gap).join(head).rstrip(),
              *(" " * spill_indent + columns[i].header for i in spilled if columns[i].header)]
    out: list[str] = []
    for r in rows:
        cells = {i: (textwrap.wrap(r[i], width=widths[i], break_long_words=False, break_on_hyphens=False)
                     or [""]) if columns[i].wrap else [r[i]] for i in inline}
        height = max(len(v) for v in cells.values())
        for line_no in range(height):
            parts = []
            for i in inline:
                text = cells[i][line_no] if line_no < len(cells[i]) else ""
                parts.append(_cell(text, widths[i], columns[i].justify))
            out.append((" " * gap).join(parts).rstrip())
        for i in spilled:
            if r[i]:
                out.extend(wrap(r[i], cols, indent=spill_indent))
    return header, out


def _too_wide(widths: list[int], gap: int, cols: int) -> bool:
    return sum(widths) + gap * (len(widths) - 1) > cols
