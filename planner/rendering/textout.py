"""The report consoles of planner/rendering/term.py, without importing rich where rich would write plain text (a
pipe, a file, a CI log, NO_COLOR).

Importing rich costs about as much as the rest of a catalog plan (docs/performance.md), and without
colour term.console's rich Console writes plain text. `console()` returns, in that case, a console that
writes the same text itself, laid out as rich 13-15 lays it out at term's width: the same markup (tags
dropped, `\\[` escapes), the same tables (column widths, padding, title and caption justified to the
table's width). Anything it does not lay out exactly as rich would (a line or table wider than the
console, tabs or control characters, a tag that is not a plain style, characters whose cell width is not
1) goes to term.console's rich Console, imported then; with colour, term.console is used as it is.
tests/test_textout.py compares both on the reports and on generated text and tables.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import IO, Any

from planner.rendering import term

# rich.markup's tag pattern (rich/markup.py RE_TAGS), so the same text is a tag in both.
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
# Style words a tag may name here; any other tag (links, @handlers, colours by number) goes to rich.
_STYLE_WORDS = frozenset({"bold", "dim", "italic", "underline", "red", "green", "yellow", "blue", "magenta",
                          "cyan", "white", "black"})
# Non-ASCII characters of the reports, each one cell wide in rich.cells (checked by the tests).
NARROW = frozenset("·█…×—–→←≥≤±µ°’‘“”é")


class _NeedsRich(Exception):
    """The text or table is outside what this module lays out exactly as rich: let rich write it."""


def escape(markup: str) -> str:
    """rich.markup.escape: backslash every [tag]-like run so it prints literally."""
    def repl(match: re.Match[str]) -> str:
        backslashes, text = match.groups()
        return f"{backslashes}{backslashes}\\{text}"

    markup = _ESCAPE.sub(repl, markup)
    if markup.endswith("\\") and not markup.endswith("\\\\"):
        return markup + "\\"
    return markup


def plain(markup: str) -> str:
    """The text rich prints for `markup` without styles (rich.markup.render, tags dropped)."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        full, escapes, tag = match.groups()
        start, end = match.span()
        if start > position:
            out.append(markup[position:start].replace("\\[", "["))
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            if backslashes:
                out.append("\\" * backslashes)
            if escaped:
                out.append(full[len(escapes):].replace("\\[", "["))
                position = end
                continue
        position = end
        if tag.startswith("/"):
            name = tag[1:].strip()
            if name:
                if name not in open_tags:
                    raise _NeedsRich(tag)        # rich raises its MarkupError
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name)]
            elif open_tags:
                open_tags.pop()
            else:
                raise _NeedsRich(tag)
            continue
        words = tag.split()
        if not words or "=" in tag or any(w not in _STYLE_WORDS for w in words):
            raise _NeedsRich(tag)
        open_tags.append(tag.strip())
    if position < len(markup):
        out.append(markup[position:].replace("\\[", "["))
    text = "".join(out)
    _check_cells(text)
    return text


def _check_cells(text: str) -> None:
    for ch in text:
        if ch == "\n":
            continue
        if ch < " " or ch == "\x7f" or (ord(ch) > 126 and ch not in NARROW):
            raise _NeedsRich(repr(ch))


class Table:
    """The subset of rich.table.Table the reports use: no box, no edge, padding (0, 1)."""

    def __init__(self, *, title: str | None = None, title_justify: str = "center", show_edge: bool = True,
                 pad_edge: bool = True, box: Any = "default", padding: tuple[int, int] = (0, 1),
                 header_style: str | None = "bold") -> None:
        self.title = title
        self.title_justify = title_justify
        self.show_edge = show_edge
        self.pad_edge = pad_edge
        self.box = box
        self.padding = padding
        self.header_style = header_style
        self.caption: str | None = None
        self.columns: list[dict[str, Any]] = []
        self.rows: list[tuple[str, ...]] = []

    def add_column(self, header: str = "", *, style: str | None = None, justify: str = "left",
                   no_wrap: bool = False, overflow: str = "ellipsis") -> None:
        self.columns.append({"header": header, "style": style, "justify": justify, "no_wrap": no_wrap,
                             "overflow": overflow})

    def add_row(self, *cells: str) -> None:
        self.rows.append(tuple(cells))

    def __rich__(self) -> Any:
        """The same table as rich's (for a rich console, e.g. a terminal)."""
        from rich.table import Table as RichTable  # noqa: PLC0415 - rich only where it writes

        kw: dict[str, Any] = {"title": self.title, "title_justify": self.title_justify,
                              "show_edge": self.show_edge, "pad_edge": self.pad_edge, "padding": self.padding,
                              "header_style": self.header_style}
        if self.box != "default":
            kw["box"] = self.box
        t = RichTable(**kw)
        for c in self.columns:
            t.add_column(c["header"], style=c["style"], justify=c["justify"], no_wrap=c["no_wrap"],
                         overflow=c["overflow"])
        for row in self.rows:
            t.add_row(*row)
        t.caption = self.caption
        return t

    def lines(self, width: int) -> list[str]:
        """The plain lines rich writes for this table at console `width`."""
        if self.box is not None or self.show_edge or self.pad_edge or tuple(self.padding) != (0, 1):
            raise _NeedsRich("table layout")
        n = len(self.columns)
        if n == 0:
            raise _NeedsRich("no columns")
        header = [plain(c["header"]) for c in self.columns]
        body = [[plain(cell) for cell in row] + [""] * (n - len(row)) for row in self.rows]
        if any(len(row) > n for row in self.rows):
            raise _NeedsRich("row wider than the columns")
        widths = [max([len(header[i]), *(len(r[i]) for r in body)]) for i in range(n)]
        total = sum(widths) + 2 * (n - 1)
        if total > width:
            raise _NeedsRich("wider than the console")
        out: list[str] = []
        if self.title:
            out.append(_justify(plain(self.title), total, self.title_justify))
        for row in [header, *body]:
            cells = [_justify(text, widths[i], self.columns[i]["justify"]) for i, text in enumerate(row)]
            out.append("  ".join(cells))
        if self.caption:
            out.append(_justify(plain(self.caption), total, "center"))
        return out


def _justify(text: str, width: int, how: str) -> str:
    if text != text.rstrip():
        raise _NeedsRich("trailing whitespace")        # rich strips it for some justifications
    if len(text) > width:
        raise _NeedsRich("cell wider than its column")
    gap = width - len(text)
    if how == "right":
        return " " * gap + text
    if how == "center":
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    if how in ("left", "default", "full"):
        return text + " " * gap
    raise _NeedsRich(how)


class Console:
    """The subset of rich.console.Console the reports use (print of markup text or a Table, width, file),
    for a console that writes no styles: term.console(..., styled=False) at `width` columns."""

    def __init__(self, *, width: int, fallback: Callable[[], Any], stderr: bool = False,
                 file: IO[str] | None = None) -> None:
        self._width = width
        self._fallback = fallback
        self._rich: Any = None
        self.stderr = stderr
        self._file = file

    @property
    def file(self) -> IO[str]:
        if self._file is not None:
            return self._file
        return sys.stderr if self.stderr else sys.stdout

    @property
    def width(self) -> int:
        return self._width

    def _rich_console(self) -> Any:
        if self._rich is None:
            self._rich = self._fallback()
        return self._rich

    def print(self, *objects: Any, soft_wrap: bool = False, end: str = "\n") -> None:
        try:
            self._print_plain(objects, soft_wrap=soft_wrap, end=end)
        except _NeedsRich:
            self._rich_console().print(*objects, soft_wrap=soft_wrap, end=end)

    def _print_plain(self, objects: tuple[Any, ...], *, soft_wrap: bool, end: str) -> None:
        if len(objects) > 1:
            raise _NeedsRich("several objects")
        obj = objects[0] if objects else ""
        if isinstance(obj, Table):
            lines = obj.lines(self._width)
        elif isinstance(obj, str):
            lines = plain(obj).split("\n")
            if not soft_wrap and any(len(line) > self._width for line in lines):
                raise _NeedsRich("wraps")
        else:
            raise _NeedsRich(type(obj).__name__)
        self.file.write("\n".join(lines) + end)
        self.file.flush()


def console(*, stderr: bool = False, file: IO[str] | None = None, cols: int | None = None,
            styled: bool | None = None) -> Any:
    """term.console(...)'s console: this module's plain one where term's would write no styles (rich is
    then imported only for what this module cannot lay out), term's rich one otherwise."""
    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    if styled is None:
        styled = term.colour(stream)
    if styled:
        return term.console(stderr=stderr, file=file, cols=cols, styled=True)
    width = cols or term.width(stream)
    return Console(width=width, stderr=stderr, file=file,
                   fallback=lambda: term.console(stderr=stderr, file=file, cols=width, styled=False))
