"""`planner estimate|plan ... --plot FILE`: the memory split per GPU as an SVG or PNG file.

One horizontal stacked bar per distinct GPU role: every tensor-parallel rank holds the same, so a layout
without pipeline parallelism has one bar, and each pipeline stage has its own. The segments follow vLLM's
accounting (gpu_worker.determine_available_memory): weights, the profiled activation peak, non-torch memory,
the CUDA graph estimate, and the KV cache the rest of the budget leaves; then what lies outside the budget
(1 - gpu_memory_utilization), or what is free when the KV size is given outright. A dashed line marks the
budget. Every segment carries its bar letter (the terminal bar's: planner.rendering.memory.PARTS), a pattern and, in
the legend under its bar, its GiB and share of the device, so the picture reads in greyscale too.

The figure is laid out once as a short list of shapes (`Box`, `Label`, `Rule`), and both formats draw that
list: the SVG by hand, the PNG with planner/rendering/png.py. The file is written by
planner/rendering/plotfile.py (atomic).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from planner.rendering.memory import PARTS
from planner.rendering.plotfile import is_png, write_atomic
from planner.rendering.png import Canvas, Color, encode, text_width

if TYPE_CHECKING:
    from planner.memory.estimator import Estimate, PerGpu

W = 800
MARGIN = 20
BAR_W = W - 2 * MARGIN
BAR_H = 34
TOP = 88                  # first stage group
GROUP_H = 150             # label, bar, callouts, three legend rows
LEGEND_ROWS = 3           # the legend in columns of three, read down: vLLM's order
CHAR_W = 7                # a conservative width of one character at 12 px (SVG) and in the 5x7 font (PNG)
INK: Color = (32, 32, 32)
WHITE: Color = (255, 255, 255)
REST_KEY = "rest"

# (fill, pattern, pattern ink) per part: fills of distinct lightness, and a pattern on every other part.
STYLE: dict[str, tuple[Color, str | None, Color]] = {
    "weights_gib": ((51, 96, 140), None, WHITE),
    "activation_gib": ((212, 80, 135), "diag", WHITE),
    "non_torch_gib": ((242, 198, 65), "dots", (110, 80, 0)),
    "cudagraph_gib": ((122, 81, 149), "back", WHITE),
    "kv_cache_gib": ((124, 207, 138), None, WHITE),
    REST_KEY: ((240, 240, 240), "hlines", (180, 180, 180)),
}
# The same patterns as SVG tiles (6 x 6 user units) and as a pixel test for the PNG.
_SVG_TILE = {
    "diag": '<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" stroke="{ink}" stroke-width="1.3"/>',
    "back": '<path d="M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2" stroke="{ink}" stroke-width="1.3"/>',
    "dots": '<rect x="2" y="2" width="2" height="2" fill="{ink}"/>',
    "hlines": '<path d="M0,3 h6" stroke="{ink}" stroke-width="1"/>',
}
_PNG_TILE = {
    "diag": lambda x, y: (x + y) % 6 == 0,
    "back": lambda x, y: (x - y) % 6 == 0,
    "dots": lambda x, y: x % 6 in (2, 3) and y % 6 in (2, 3),
    "hlines": lambda x, y: y % 6 == 3,
}


@dataclass(frozen=True)
class Segment:
    key: str                  # the PerGpu field, or "rest"
    letter: str               # the terminal bar's letter ("" for the rest)
    label: str
    gib: float                # the figure; a KV cache that would not fit is negative
    share: float              # of the device total, in %

    @property
    def drawn(self) -> float:
        return max(0.0, self.gib)

    def legend(self) -> str:
        short = " (short)" if self.gib < 0 else ""
        head = f"{self.letter} {self.label}" if self.letter else self.label
        return f"{head}: {self.gib:.2f} GiB ({self.share:.1f}%){short}"


@dataclass(frozen=True)
class StageBar:
    label: str
    total_gib: float
    requested_gib: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class MemoryFigure:
    title: str
    lines: tuple[str, ...]        # settings, the KV tokens line, the verdict
    bars: tuple[StageBar, ...]
    note: str
    fits: bool = True

    @property
    def scale_gib(self) -> float:
        """GiB of the full bar width: the device, or more when the parts overrun it (a layout that fails)."""
        return max([1e-9, *(max(b.total_gib, sum(s.drawn for s in b.segments)) for b in self.bars)])

    @property
    def height(self) -> int:
        return TOP + GROUP_H * len(self.bars) + 16


def stage_bar(stage: PerGpu, label: str) -> StageBar:
    total = stage.total_gib

    def share(v: float) -> float:
        return 100 * v / total if total > 0 else 0.0

    parts = [Segment(attr, letter, name, getattr(stage, attr), share(getattr(stage, attr)))
             for name, attr, letter, _ in PARTS]
    used = sum(s.drawn for s in parts)
    if stage.kv_cache_gib >= 0 and abs(used - stage.requested_gib) < 0.01:
        rest = Segment(REST_KEY, "", "outside the budget", total - stage.requested_gib,
                       share(total - stage.requested_gib))
    else:                    # the KV size given outright, or parts that overrun the budget
        rest = Segment(REST_KEY, "", "free", max(0.0, total - used), share(max(0.0, total - used)))
    return StageBar(label, total, stage.requested_gib, (*parts, rest))


def figure(est: Estimate, heading: str = "") -> MemoryFigure:
    """The memory split of an Estimate; `heading` prefixes the title (plan: "plan 1", "closest miss")."""
    r = est.resolved
    tp, pp, dp = r.tensor_parallel_size, r.pipeline_parallel_size, r.data_parallel_size
    layout = f"TP {tp}, PP {pp}" + (f", DP {dp}" if dp > 1 else "")
    count = r.world_size * max(1, dp)
    title = (f"{heading}: " if heading else "") + (f"{est.model.get('name')} on {count} x {est.gpu.id} ({layout})"
                                                  f" · vLLM {est.rules.version}")
    q = est.quant.name if est.quant.is_quantized else r.dtype
    settings = (f"weights {q} · KV dtype {r.kv_cache_dtype} · max_model_len {r.max_model_len:,} · "
                f"gpu_memory_utilization {r.gpu_memory_utilization}")
    kv = est.kv_cache
    device = "CPU" if est.gpu.vendor == "cpu" else "GPU"
    kv_line = (f"{device} KV cache size: {kv.tokens:,} tokens · Maximum concurrency for {r.max_model_len:,} "
               f"tokens per request: {kv.max_concurrency:.2f}x")
    verdict = ("FITS: vLLM should start with these settings" if est.fits else
               "WOULD FAIL at startup: " + ", ".join(e.code for e in est.errors))
    ranks = f", its {tp} TP ranks alike" if tp > 1 else ""
    if len(est.stages) > 1:
        bars = tuple(stage_bar(s, f"pipeline stage {i}" + (" (tightest)" if i == est.tightest_stage else "")
                               + ranks) for i, s in enumerate(est.stages))
    else:
        bars = (stage_bar(est.per_gpu, "per GPU" + (f", the {tp} TP ranks alike" if tp > 1 else "")),)
    unit = "one NUMA node" if est.gpu.vendor == "cpu" else "one GPU"
    note = (f"bar: the memory of {unit} ({est.per_gpu.total_gib:.2f} GiB) · dashed line: the budget, "
            "gpu_memory_utilization x device memory")
    if any(sum(s.drawn for s in b.segments) > b.total_gib + 1e-9 for b in bars):
        note = f"solid line: the device memory ({est.per_gpu.total_gib:.2f} GiB), overrun · dashed line: the budget"
    return MemoryFigure(title, (settings, kv_line, verdict), bars, note, est.fits)


# -- the layout: a list of shapes both formats draw ----------------------------------------------------------

@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    key: str                      # a STYLE key (its fill and pattern)
    cls: str                      # "segment" (a bar part) or "swatch" (its legend key)
    title: str = ""
    stroke: bool = False


@dataclass(frozen=True)
class Label:
    x: float
    y: float                      # the baseline
    text: str
    size: int = 12
    anchor: str = "start"         # start or middle
    color: Color = INK
    cls: str = "label"
    backdrop: Color | None = None   # a box of this colour behind the text (text over a pattern)


@dataclass(frozen=True)
class Rule:
    x0: float
    y0: float
    x1: float
    y1: float
    cls: str                      # "budget" (dashed), "device" or "leader" (from a callout to its segment)


Shape = Box | Label | Rule


def _dark(c: Color) -> bool:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 140


def _inside_label(seg: Segment, width: float) -> str:
    """The longest of the segment's labels that fits inside it, or ''."""
    head = f"{seg.letter} {seg.label}" if seg.letter else seg.label
    for text in (f"{head} {seg.gib:.2f} GiB ({seg.share:.1f}%)", f"{head} {seg.gib:.1f} GiB",
                 f"{seg.letter or seg.label} {seg.gib:.1f} GiB", seg.letter):
        if text and CHAR_W * len(text) + 8 <= width:
            return text
    return ""


def layout(fig: MemoryFigure) -> list[tuple[int, list[Shape]]]:
    """[(group, shapes)]: group -1 is the title block (and the note), 0.. the stage bars."""
    head: list[Shape] = [Label(W / 2, 26, fig.title, 15, "middle", cls="title")]
    head += [Label(W / 2, 46 + 17 * i, line, 12, "middle", cls="subtitle") for i, line in enumerate(fig.lines[:-1])]
    head.append(Label(W / 2, 46 + 17 * (len(fig.lines) - 1), fig.lines[-1], 12, "middle",
                      (20, 110, 40) if fig.fits else (170, 20, 20), "verdict"))
    out: list[tuple[int, list[Shape]]] = [(-1, head)]
    px = BAR_W / fig.scale_gib
    for g, bar in enumerate(fig.bars):
        top = TOP + g * GROUP_H
        y = top + 22
        bottom = y + BAR_H
        shapes: list[Shape] = [Label(MARGIN, top + 12, bar.label, 13, cls="stage-label")]
        x, callout = float(MARGIN), float("-inf")
        inside: list[Shape] = []          # drawn last, over the budget and device lines
        for seg in bar.segments:
            w = px * seg.drawn
            fill, pattern, _ = STYLE[seg.key]
            shapes.append(Box(x, y, w, BAR_H, seg.key, "segment", title=seg.legend()))
            text = _inside_label(seg, w)
            if text:
                inside.append(Label(x + w / 2, y + BAR_H / 2 + 4, text, 12, "middle",
                                    WHITE if _dark(fill) else INK, "inside", backdrop=fill if pattern else None))
            elif seg.letter and w > 0:        # too narrow for its letter: the letter below it, on a leader
                callout = max(x + w / 2, callout + 2 * CHAR_W)
                shapes.append(Rule(x + w / 2, bottom, callout, bottom + 5, "leader"))
                shapes.append(Label(callout, bottom + 16, seg.letter, 11, "middle", cls="callout"))
            x += w
        shapes.append(Box(MARGIN, y, px * bar.total_gib, BAR_H, REST_KEY, "device", stroke=True))
        budget = MARGIN + px * bar.requested_gib
        shapes.append(Rule(budget, y - 5, budget, bottom + 5, "budget"))
        if fig.scale_gib > bar.total_gib + 1e-9:
            shapes.append(Rule(MARGIN + px * bar.total_gib, y - 5, MARGIN + px * bar.total_gib, bottom + 5,
                               "device"))
        shapes += inside
        for i, seg in enumerate(bar.segments):
            lx = MARGIN + (i // LEGEND_ROWS) * BAR_W / 2
            ly = bottom + 38 + 20 * (i % LEGEND_ROWS)
            shapes.append(Box(lx, ly - 11, 16, 13, seg.key, "swatch", stroke=True))
            shapes.append(Label(lx + 22, ly, seg.legend(), 12, cls="legend"))
        out.append((g, shapes))
    out.append((-1, [Label(W / 2, fig.height - 8, fig.note, 11, "middle", (90, 90, 90), "note")]))
    return out


# -- SVG ----------------------------------------------------------------------------------------------------

def _hex(c: Color) -> str:
    return "#" + "".join(f"{v:02x}" for v in c)


def _svg_shape(s: Shape) -> str:
    if isinstance(s, Rule):
        dash = ' stroke-dasharray="4,3"' if s.cls == "budget" else ""
        width = 1 if s.cls == "leader" else 1.5
        return (f'<line class="{s.cls}" x1="{s.x0:.2f}" y1="{s.y0}" x2="{s.x1:.2f}" y2="{s.y1}" stroke="#202020" '
                f'stroke-width="{width}"{dash}/>')
    if isinstance(s, Label):
        weight = ' font-weight="bold"' if s.cls in ("title", "stage-label") else ""
        anchor = ' text-anchor="middle"' if s.anchor == "middle" else ""
        text = (f'<text class="{s.cls}" x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size}"{anchor}{weight} '
                f'fill="{_hex(s.color)}">{escape(s.text)}</text>')
        if s.backdrop is None:
            return text
        w = CHAR_W * len(s.text) + 4
        return (f'<rect x="{s.x - w / 2:.1f}" y="{s.y - 12:.1f}" width="{w}" height="16" '
                f'fill="{_hex(s.backdrop)}"/>' + text)
    fill, pattern, _ = STYLE[s.key]
    stroke = ' stroke="#202020" stroke-width="1"' if s.stroke else ""
    if s.cls == "device":
        return f'<rect class="device" x="{s.x}" y="{s.y}" width="{s.w:.2f}" height="{s.h}" fill="none"{stroke}/>'
    part = f' data-part="{s.key}"' if s.cls == "segment" else ""
    tip = f"<title>{escape(s.title)}</title>" if s.title else ""
    out = (f'<rect class="{s.cls}"{part} x="{s.x:.2f}" y="{s.y}" width="{s.w:.2f}" height="{s.h}" '
           f'fill="{_hex(fill)}"{stroke}>{tip}</rect>')
    if pattern:
        out += (f'<rect x="{s.x:.2f}" y="{s.y}" width="{s.w:.2f}" height="{s.h}" fill="url(#p-{s.key})"'
                f'{stroke}/>')
    return out


def render_svg(fig: MemoryFigure) -> str:
    h = fig.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" '
           'font-family="sans-serif">', f"<title>{escape(fig.title)}</title>", "<defs>"]
    for key, (_, pattern, ink) in STYLE.items():
        if pattern:
            out.append(f'<pattern id="p-{key}" width="6" height="6" patternUnits="userSpaceOnUse">'
                       + _SVG_TILE[pattern].format(ink=_hex(ink)) + "</pattern>")
    out += ["</defs>", f'<rect width="{W}" height="{h}" fill="white"/>']
    for group, shapes in layout(fig):
        if group >= 0:
            out.append(f'<g class="stage" data-stage="{group}" data-label={quoteattr(fig.bars[group].label)}>')
        out += [_svg_shape(s) for s in shapes]
        if group >= 0:
            out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- PNG ----------------------------------------------------------------------------------------------------

def _png_shape(cv: Canvas, s: Shape) -> None:
    if isinstance(s, Rule):
        if s.cls == "leader":
            cv.line(round(s.x0), round(s.y0), round(s.x1), round(s.y1), INK)
            return
        x = round(s.x0)
        for y in range(round(s.y0), round(s.y1) + 1):
            if s.cls != "budget" or (y // 3) % 2 == 0:
                cv.rect(x - 1, y, 2, 1, INK)
        return
    if isinstance(s, Label):
        scale = 2 if s.size >= 14 and text_width(s.text, 2) <= W - 2 * MARGIN else 1
        tw = text_width(s.text, scale)
        x = round(s.x - tw / 2) if s.anchor == "middle" else round(s.x)
        top = round(s.y) - 7 * scale
        if s.backdrop is not None:
            cv.rect(x - 2, top - 2, tw + 4, 7 * scale + 4, s.backdrop)
        cv.text(x, top, s.text, s.color, scale)
        return
    x0, y0, x1, y1 = round(s.x), round(s.y), round(s.x + s.w), round(s.y + s.h)
    fill, pattern, ink = STYLE[s.key]
    if s.cls != "device":
        cv.rect(x0, y0, x1 - x0, y1 - y0, fill)
        if pattern:
            hit = _PNG_TILE[pattern]
            for y in range(y0, y1):
                for x in range(x0, x1):
                    if hit(x, y):
                        cv.set(x, y, ink)
    if s.stroke:
        for x, y, w, h in ((x0, y0, x1 - x0, 1), (x0, y1 - 1, x1 - x0, 1), (x0, y0, 1, y1 - y0),
                           (x1 - 1, y0, 1, y1 - y0)):
            cv.rect(x, y, w, h, INK)


def render_png(fig: MemoryFigure) -> bytes:
    cv = Canvas(W, fig.height)
    for _, shapes in layout(fig):
        for s in shapes:
            _png_shape(cv, s)
    return encode(cv)


def write_memory_plot(path: Path, est: Estimate, heading: str = "") -> None:
    fig = figure(est, heading)
    write_atomic(path, render_png(fig) if is_png(path) else render_svg(fig).encode())
