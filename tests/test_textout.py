"""planner.rendering.textout writes what term.console's rich Console writes without colour: tables, markup,
escapes, width; and hands rich everything else. Generated tables and texts (fixed seed) are compared with
rich's own output."""

from __future__ import annotations

import io
import random

import pytest
from rich.cells import cell_len
from rich.markup import escape as rich_escape
from rich.table import Table as RichTable
from rich.text import Text

from planner.rendering import term, textout

STYLES = ["bold", "dim", "red", "green", "yellow", "cyan", "magenta", "blue", "bold red", "bold green"]
WORDS = ["weights", "KV", "cache", "H100-SXM-80GB", "1.6x", "38%", "·", "█", "128K", "[1]", "a[b]", "x:y",
         "--tp", "\\", "(TP 1)", "fp8", "", "211,392", "…", "→"]


def rich_out(obj: object, width: int, soft_wrap: bool = False) -> str:
    """What term.console(styled=False) at `width` writes (the console textout stands in for)."""
    buf = io.StringIO()
    term.console(file=buf, cols=width, styled=False).print(obj, soft_wrap=soft_wrap)
    return buf.getvalue()


def gen_markup(rng: random.Random, n: int) -> str:
    parts = []
    for _ in range(n):
        w = rng.choice(WORDS)
        if rng.random() < 0.3:
            s = rng.choice(STYLES)
            w = f"[{s}]{w}[/{s}]" if rng.random() < 0.8 else f"[{s}]{w}[/]"
        parts.append(w)
    return " ".join(parts)


def test_every_narrow_character_is_one_cell_in_rich() -> None:
    for ch in textout.NARROW:
        assert cell_len(ch) == 1, ch


def test_markup_is_read_as_rich_reads_it() -> None:
    rng = random.Random(11)
    for _ in range(400):
        markup = gen_markup(rng, rng.randint(0, 8))
        try:
            text = textout.plain(markup)
        except textout._NeedsRich:
            continue
        assert text == Text.from_markup(markup, emoji=False).plain, markup


def test_escape_is_riches() -> None:
    rng = random.Random(12)
    for _ in range(300):
        s = "".join(rng.choice(["[", "]", "\\", "a", "b", "/", "@", "#", " ", "1", "bold"]) for _ in range(12))
        assert textout.escape(s) == rich_escape(s), s
        try:
            assert textout.plain(textout.escape(s)) == Text.from_markup(rich_escape(s), emoji=False).plain, s
        except textout._NeedsRich:
            pass


def gen_table(rng: random.Random) -> tuple[textout.Table, RichTable]:
    title = rng.choice([None, "memory per GPU", "[bold]t[/bold]", "a much longer title than the table itself"])
    justify = rng.choice(["left", "center", "right"])
    kw = {"title": title, "title_justify": justify, "show_edge": False, "pad_edge": False, "box": None,
          "padding": (0, 1)}
    ours, theirs = textout.Table(**kw), RichTable(**kw)
    ncol = rng.randint(1, 6)
    for i in range(ncol):
        c = {"justify": rng.choice(["left", "right", "center"]), "style": rng.choice([None, "bold"]),
             "no_wrap": rng.random() < 0.5}
        header = rng.choice(["#", "GPU", "per GPU", "GiB", "share", "KV tokens", ""]) + str(i)
        ours.add_column(header, **c)
        theirs.add_column(header, **c)
    for _ in range(rng.randint(0, 5)):
        words = [" ".join(gen_markup(rng, rng.randint(0, 2)).split()) for _ in range(ncol)]
        row = [(rng.choice(["", "", "  "]) + w) if w else w for w in words]
        ours.add_row(*row)
        theirs.add_row(*row)
    if rng.random() < 0.5:
        cap = "[cyan]" + "█" * rng.randint(1, 20) + "[/cyan][dim]" + "·" * rng.randint(0, 8) + "[/dim]"
        ours.caption = cap
        theirs.caption = cap
    return ours, theirs


def test_tables_are_laid_out_as_rich_lays_them_out() -> None:
    rng = random.Random(13)
    compared = 0
    for _ in range(300):
        ours, theirs = gen_table(rng)
        width = rng.choice([40, 60, 80, 120])
        try:
            lines = ours.lines(width)
        except textout._NeedsRich:
            continue
        assert "\n".join(lines) + "\n" == rich_out(theirs, width)
        compared += 1
    assert compared > 100


def test_a_rich_console_renders_the_table_through_rich() -> None:
    rng = random.Random(14)
    for _ in range(50):
        ours, theirs = gen_table(rng)
        assert rich_out(ours, 80) == rich_out(theirs, 80)


@pytest.mark.parametrize("text", ["plain", "[bold]Plan 1[/bold]: 1 x H100", "x " * 60, "[blue]a[/blue]" * 30,
                                  "tab\there", "[link=https://x]l[/link]", "ok [/bold] unbalanced", "emoji :smile:",
                                  "wide 日本"])
@pytest.mark.parametrize("soft_wrap", [False, True])
def test_console_prints_what_rich_prints(text: str, soft_wrap: bool) -> None:
    try:
        expected = rich_out(text, 50, soft_wrap=soft_wrap)
    except Exception as exc:   # rich refuses the markup: so must we, with rich's error
        with pytest.raises(type(exc)):
            textout.console(file=io.StringIO(), cols=50, styled=False).print(text, soft_wrap=soft_wrap)
        return
    buf = io.StringIO()
    textout.console(file=buf, cols=50, styled=False).print(text, soft_wrap=soft_wrap)
    assert buf.getvalue() == expected


def test_console_is_plain_only_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "123")
    plain_console = textout.console(file=io.StringIO())
    assert isinstance(plain_console, textout.Console) and plain_console.width == 123
    assert not isinstance(textout.console(file=io.StringIO(), styled=True), textout.Console)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert not isinstance(textout.console(file=io.StringIO()), textout.Console)
