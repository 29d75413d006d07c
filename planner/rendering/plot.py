"""`planner perf --sweep ... --plot FILE`: the sweep's throughput against latency as an SVG or PNG file.

Both formats draw the same layout (axes from 0 to round ticks, the points joined in sweep order, each point
labelled with its sweep value). The SVG is written by hand and the PNG is rasterised by planner/rendering/png.py, so
plotting needs no library. The file is written atomically: a temp file in the same folder, then a rename, so
a failed or interrupted run leaves no half-written plot (planner/rendering/plotfile.py, shared with the memory split).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from planner.rendering.perf import nice_ticks, tick_label
from planner.rendering.plotfile import is_png, write_atomic
from planner.rendering.png import Canvas, encode, text_width

W, H = 720, 450
LEFT, RIGHT, TOP, BOTTOM = 84, 24, 44, 62
INK, GRID, POINT, LINE = (32, 32, 32), (225, 225, 225), (31, 119, 180), (120, 170, 210)


@dataclass(frozen=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    labels: tuple[str, ...]           # one per point (the sweep value)


def write_plot(path: Path, chart: Chart) -> None:
    data = render_png(chart) if is_png(path) else render_svg(chart).encode()
    write_atomic(path, data)


class _Frame:
    """Data coordinates to pixels (y grows downwards), with the ticks of both axes."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        self.xt, self.yt = nice_ticks(max(xs)), nice_ticks(max(ys))
        self.pw, self.ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(self, x: float) -> float:
        return LEFT + self.pw * x / self.xt[-1]

    def py(self, y: float) -> float:
        return TOP + self.ph * (1 - y / self.yt[-1])


def render_svg(c: Chart) -> str:
    f = _Frame(c.xs, c.ys)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2:.0f}" y="24" text-anchor="middle" font-size="14">{escape(c.title)}</text>']
    for v in f.xt:
        x = f.px(v)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + f.ph}" stroke="#e1e1e1"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + f.ph + 18}" text-anchor="middle">{tick_label(v)}</text>')
    for v in f.yt:
        y = f.py(v)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + f.pw}" y2="{y:.1f}" stroke="#e1e1e1"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{tick_label(v)}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + f.ph}" x2="{LEFT + f.pw}" y2="{TOP + f.ph}" stroke="#202020"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + f.ph}" stroke="#202020"/>')
    out.append(f'<text x="{LEFT + f.pw / 2:.0f}" y="{H - 16}" text-anchor="middle">{escape(c.x_label)}</text>')
    out.append(f'<text x="18" y="{TOP + f.ph / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 18 {TOP + f.ph / 2:.0f})">{escape(c.y_label)}</text>')
    pts = " ".join(f"{f.px(x):.1f},{f.py(y):.1f}" for x, y in zip(c.xs, c.ys, strict=True))
    out.append(f'<polyline class="sweep" points="{pts}" fill="none" stroke="#78aad2" stroke-width="2"/>')
    for x, y, label in zip(c.xs, c.ys, c.labels, strict=True):
        out.append(f'<circle class="point" cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="4" fill="#1f77b4">'
                   f'<title>{escape(label)}: {x:.2f}, {y:.1f}</title></circle>')
        out.append(f'<text class="label" x="{f.px(x) + 6:.1f}" y="{f.py(y) - 6:.1f}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_png(c: Chart) -> bytes:

    f = _Frame(c.xs, c.ys)
    cv = Canvas(W, H)
    for v in f.xt:
        x = round(f.px(v))
        cv.line(x, TOP, x, TOP + f.ph, GRID)
        t = tick_label(v)
        cv.text(x - text_width(t) // 2, TOP + f.ph + 8, t, INK)
    for v in f.yt:
        y = round(f.py(v))
        cv.line(LEFT, y, LEFT + f.pw, y, GRID)
        t = tick_label(v)
        cv.text(LEFT - 8 - text_width(t), y - 3, t, INK)
    cv.line(LEFT, TOP + f.ph, LEFT + f.pw, TOP + f.ph, INK)
    cv.line(LEFT, TOP, LEFT, TOP + f.ph, INK)
    scale = 2 if text_width(c.title, 2) <= W - 20 else 1
    cv.text((W - text_width(c.title, scale)) // 2, 12, c.title, INK, scale)
    cv.text(LEFT + (f.pw - text_width(c.x_label)) // 2, H - 24, c.x_label, INK)
    cv.text(14, TOP + (f.ph + text_width(c.y_label)) // 2, c.y_label, INK, vertical=True)
    pix = [(round(f.px(x)), round(f.py(y))) for x, y in zip(c.xs, c.ys, strict=True)]
    for (x0, y0), (x1, y1) in itertools.pairwise(pix):
        cv.line(x0, y0, x1, y1, LINE, 2)
    for (x, y), label in zip(pix, c.labels, strict=True):
        cv.disc(x, y, 4, POINT)
        cv.text(x + 6, y - 12, label, INK)
    return encode(cv)
