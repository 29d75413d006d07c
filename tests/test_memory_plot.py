"""`planner estimate|plan ... --plot FILE`: the memory split per GPU as SVG and PNG (planner/rendering/memory_plot.py),
the path checks made before any work, and the terminal bar's colour-free legend.

The figures come from catalog models (offline, no Hub): the SVG is parsed as XML and its segment widths are
checked against the Estimate's own figures, the PNG is decoded with tests/pngread.py.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from pngread import pixel, read_png
from typer.testing import CliRunner

from planner.cli import app
from planner.commands.estimate import build_estimate
from planner.errors import PlannerError
from planner.memory.estimator import Estimate
from planner.rendering.memory import PARTS
from planner.rendering.memory_plot import (
    BAR_H,
    BAR_W,
    GROUP_H,
    MARGIN,
    STYLE,
    TOP,
    W,
    figure,
    render_svg,
    write_memory_plot,
)

runner = CliRunner()
NS = "{http://www.w3.org/2000/svg}"
DOC_IMAGE = Path(__file__).parent.parent / "docs" / "img" / "memory-split.svg"
DOC_ARGS = ["estimate", "llama-3.1-70b", "--gpu", "H100", "-tp", "2", "--max-model-len", "32768"]
UPDATE = os.environ.get("VLLM_PLANNER_UPDATE_GOLDEN", "") not in ("", "0")


def estimate(*args: str, gpu: str = "H100") -> Estimate:
    est, _ = build_estimate(list(args), gpu=gpu, device=None, gpu_memory_gib=None, quant=None, vllm_version=None,
                            vllm_engine=None, revision=None, offline=True, progress=False)
    return est


@pytest.fixture(scope="module")
def tp2_pp2() -> Estimate:
    return estimate("llama-3.1-70b", "-tp", "2", "-pp", "2", "--max-model-len", "32768")


def svg_of(est: Estimate, tmp_path: Path) -> ElementTree.Element:
    path = tmp_path / "m.svg"
    write_memory_plot(path, est)
    return ElementTree.parse(path).getroot()


def texts(root: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def groups(root: ElementTree.Element) -> list[ElementTree.Element]:
    return [g for g in root.iter(f"{NS}g") if g.get("class") == "stage"]


def segments(group: ElementTree.Element) -> list[ElementTree.Element]:
    return [r for r in group.iter(f"{NS}rect") if r.get("class") == "segment"]


# -- SVG ----------------------------------------------------------------------------------------------------

def test_one_bar_group_per_pipeline_stage_with_widths_proportional_to_the_figures(
        tp2_pp2: Estimate, tmp_path: Path) -> None:
    root = svg_of(tp2_pp2, tmp_path)
    assert len(tp2_pp2.stages) == 2
    bars = groups(root)
    assert [g.get("data-stage") for g in bars] == ["0", "1"]
    for stage, g in zip(tp2_pp2.stages, bars, strict=True):
        figures = [getattr(stage, attr) for _, attr, _, _ in PARTS] + [stage.total_gib - stage.requested_gib]
        segs = segments(g)
        assert [s.get("data-part") for s in segs] == [attr for _, attr, _, _ in PARTS] + ["rest"]
        px_per_gib = BAR_W / stage.total_gib                       # the parts fill the device exactly
        for seg, gib in zip(segs, figures, strict=True):
            assert abs(float(seg.get("width", "nan")) - gib * px_per_gib) <= 1.0, (seg.get("data-part"), gib)
        xs = [float(s.get("x", "nan")) for s in segs]
        ends = [x + float(s.get("width", "nan")) for x, s in zip(xs, segs, strict=True)]
        assert xs[0] == MARGIN and all(abs(e - x) < 0.01 for e, x in zip(ends[:-1], xs[1:], strict=True))
        assert abs(ends[-1] - (MARGIN + BAR_W)) <= 1.0
        budget = next(ln for ln in g.iter(f"{NS}line") if ln.get("class") == "budget")
        assert abs(float(budget.get("x1", "nan")) - (MARGIN + stage.requested_gib * px_per_gib)) <= 1.0


def test_title_names_model_gpu_layout_release_and_the_kv_tokens_line(tp2_pp2: Estimate, tmp_path: Path) -> None:
    got = texts(svg_of(tp2_pp2, tmp_path))
    title = got[0]
    for part in ("llama-3.1-70b", "4 x H100-SXM-80GB", "TP 2, PP 2", f"vLLM {tp2_pp2.rules.version}"):
        assert part in title, part
    kv = tp2_pp2.kv_cache
    assert f"GPU KV cache size: {kv.tokens:,} tokens" in " ".join(got)
    assert any(t.startswith("FITS") for t in got)
    assert any("(tightest)" in t for t in got)


def test_every_segment_is_labelled_in_text_with_gib_and_share(tp2_pp2: Estimate, tmp_path: Path) -> None:
    """Greyscale and colour-blind readers: each part is named in text, with its letter, GiB and share; the
    patterns and fills differ in more than hue."""
    root = svg_of(tp2_pp2, tmp_path)
    stage = tp2_pp2.stages[0]
    legend = [t.text or "" for t in root.iter(f"{NS}text") if t.get("class") == "legend"]
    assert len(legend) == 6 * len(tp2_pp2.stages)
    for label, attr, letter, _ in PARTS:
        gib = getattr(stage, attr)
        want = f"{letter} {label}: {gib:.2f} GiB ({100 * gib / stage.total_gib:.1f}%)"
        assert want in legend, want
    assert any(t.startswith("outside the budget: ") for t in legend)
    # every part's letter is on the bar: inside its segment, or below it on a leader when it is too narrow
    g = groups(root)[0]
    marks = {(t.text or "").split(" ")[0] for t in g.iter(f"{NS}text") if t.get("class") in ("inside", "callout")}
    assert {letter for _, _, letter, _ in PARTS} <= marks
    lightness = sorted(0.299 * r + 0.587 * gr + 0.114 * b for (r, gr, b), pattern, _ in STYLE.values()
                       if pattern is None)
    assert all(b - a > 40 for a, b in itertools.pairwise(lightness))     # solid fills apart in grey
    patterned = [key for key, (_, pattern, _) in STYLE.items() if pattern]
    assert len(patterned) >= 3 and {f"p-{k}" for k in patterned} <= {p.get("id") for p in root.iter(f"{NS}pattern")}


def test_a_layout_that_overruns_the_device_is_drawn_to_scale_with_the_shortfall_named(tmp_path: Path) -> None:
    est = estimate("llama-3.1-70b")                  # 131 GiB of weights on one 80 GiB GPU
    assert not est.fits and est.per_gpu.kv_cache_gib < 0
    root = svg_of(est, tmp_path)
    segs = segments(groups(root)[0])
    widths = [float(s.get("width", "nan")) for s in segs]
    assert min(widths) >= 0 and abs(sum(widths) - BAR_W) <= 1.0       # the bar is the overrun, device inside
    device = next(ln for ln in root.iter(f"{NS}line") if ln.get("class") == "device")
    used = sum(max(0.0, getattr(est.per_gpu, a)) for _, a, _, _ in PARTS)
    assert abs(float(device.get("x1", "nan")) - (MARGIN + BAR_W * est.per_gpu.total_gib / used)) <= 1.0
    got = " ".join(texts(root))
    assert "(short)" in got and "WOULD FAIL" in got and "weights_do_not_fit" in got


def test_a_kv_size_given_outright_leaves_free_memory_not_an_outside_budget(tmp_path: Path) -> None:
    est = estimate("qwen3-8b", "--kv-cache-memory-bytes", "10G")
    fig = figure(est)
    rest = fig.bars[0].segments[-1]
    assert rest.label == "free" and rest.gib > 0
    assert "free: " in " ".join(texts(svg_of(est, tmp_path)))


def test_svg_escapes_what_it_prints() -> None:
    est = estimate("qwen3-8b")
    fig = figure(est, heading="a <b> & c")
    root = ElementTree.fromstring(render_svg(fig))
    assert texts(root)[0].startswith("a <b> & c: qwen3-8b")


# -- PNG ----------------------------------------------------------------------------------------------------

def test_png_decodes_at_the_figure_size_with_the_segments_painted(tp2_pp2: Estimate, tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    write_memory_plot(path, tp2_pp2)
    w, h, raw = read_png(path.read_bytes())
    fig = figure(tp2_pp2)
    assert (w, h) == (W, fig.height) and h == TOP + GROUP_H * 2 + 16
    assert all(raw[y * (1 + 3 * w)] == 0 for y in range(h))         # filter type 0 on every scanline
    bar_top = TOP + 22
    for g, stage in enumerate(tp2_pp2.stages):
        y = bar_top + g * GROUP_H + 3                               # above the inside labels
        assert pixel(w, raw, MARGIN + 4, y) == STYLE["weights_gib"][0]
        before_kv = sum(getattr(stage, attr) for _, attr, _, _ in PARTS[:4])
        kv_x = MARGIN + round(BAR_W * (before_kv + 1.0) / stage.total_gib)      # 1 GiB into the KV cache
        assert pixel(w, raw, kv_x, y) == STYLE["kv_cache_gib"][0]
    assert pixel(w, raw, 2, 2) == (255, 255, 255)
    dark = sum(1 for i in range(1, len(raw) - 2, 3) if raw[i] < 60 and raw[i + 1] < 60 and raw[i + 2] < 60)
    assert dark > 2000                                              # the text of the title, labels and legend
    assert BAR_H > 7                                                # a letter fits inside a bar


# -- the commands -------------------------------------------------------------------------------------------

def test_estimate_writes_svg_and_png_even_when_the_layout_would_fail(tmp_path: Path) -> None:
    for name in ("e.svg", "e.png"):
        r = runner.invoke(app, [*DOC_ARGS, "--plot", str(tmp_path / name)])
        assert r.exit_code == 1, r.stderr                           # 32k context does not fit on 2 x H100
        assert (tmp_path / name).stat().st_size > 1000
    ElementTree.parse(tmp_path / "e.svg")
    read_png((tmp_path / "e.png").read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.png", "e.svg"]      # no temp file left


def test_estimate_json_with_plot_keeps_stdout_json(tmp_path: Path) -> None:
    import json

    r = runner.invoke(app, ["estimate", "qwen3-8b", "--gpu", "H100", "--json", "--plot", str(tmp_path / "q.svg")])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["fits"] is True
    assert len(groups(ElementTree.parse(tmp_path / "q.svg").getroot())) == 1


def test_plan_writes_the_chosen_plans_split(tmp_path: Path) -> None:
    r = runner.invoke(app, ["plan", "llama-3.1-70b", "--gpu", "H100", "--plot", str(tmp_path / "p.svg")])
    assert r.exit_code == 0, r.stderr
    root = ElementTree.parse(tmp_path / "p.svg").getroot()
    title = texts(root)[0]
    m = re.search(r"on (\d+) x (\S+) \(TP (\d+), PP (\d+)\)", title)
    assert title.startswith("plan 1: llama-3.1-70b") and m is not None
    assert f"--tensor-parallel-size {m.group(3)}" in r.stdout and m.group(2) in r.stdout
    assert len(groups(root)) == int(m.group(4))
    r2 = runner.invoke(app, ["plan", "llama-3.1-70b", "--gpu", "H100", "--plot", str(tmp_path / "p.png")])
    assert r2.exit_code == 0
    read_png((tmp_path / "p.png").read_bytes())


def test_plan_with_nothing_fitting_draws_the_closest_miss(tmp_path: Path) -> None:
    r = runner.invoke(app, ["plan", "llama-3.1-70b", "--gpu", "L4", "--num-gpus", "2",
                            "--plot", str(tmp_path / "miss.svg")])
    assert r.exit_code == 1
    assert texts(ElementTree.parse(tmp_path / "miss.svg").getroot())[0].startswith("closest miss: ")


def assert_one_error_line(r: Any) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout[-300:], r.stderr[-300:])
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), r.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["estimate", "qwen3-8b", "--gpu", "H100"], ["plan", "qwen3-8b", "--gpu", "L4"]])
@pytest.mark.parametrize("target, needle", [("folder", "is a folder"), ("missing/m.svg", "does not exist"),
                                            ("m.pdf", "must end in .svg or .png"), ("m", "must end in .svg")])
def test_bad_plot_paths_exit_2_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               command: list[str], target: str, needle: str) -> None:
    from planner.commands import estimate as estimate_cmd
    from planner.commands import plan as plan_cmd

    def no_work(*_: object, **__: object) -> None:
        raise AssertionError("the estimate ran before the plot path was checked")

    monkeypatch.setattr(estimate_cmd, "build_estimate", no_work)
    monkeypatch.setattr(plan_cmd, "build_plan", no_work)
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder if target == "folder" else folder / target
    line = assert_one_error_line(runner.invoke(app, [*command, "--plot", str(path)]))
    assert "--plot" in line and needle in line
    assert list(folder.iterdir()) == []


def test_a_failed_write_exits_2_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.rendering import plotfile

    def broken(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plotfile.os, "replace", broken)
    r = runner.invoke(app, ["estimate", "qwen3-8b", "--gpu", "H100", "--plot", str(tmp_path / "m.png")])
    assert "cannot write it (No space left on device)" in assert_one_error_line(r)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PlannerError):
        write_memory_plot(tmp_path / "m.svg", estimate("qwen3-8b"))


def test_the_file_gets_the_umask_mode_not_a_private_temp_files(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_memory_plot(tmp_path / "m.svg", estimate("qwen3-8b"))
    finally:
        os.umask(umask)
    assert (tmp_path / "m.svg").stat().st_mode & 0o777 == 0o644


def test_both_commands_list_the_option() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name in ("estimate", "plan"):
        opts = {o for p in group.commands[name].params for o in p.opts}  # type: ignore[attr-defined]
        assert "--plot" in opts, name


# -- the terminal bar ---------------------------------------------------------------------------------------

def test_the_terminal_bar_reads_without_colour() -> None:
    """Each part of the bar is drawn with its own letter, keyed in the table: no colour needed."""
    r = runner.invoke(app, ["estimate", "qwen3-8b", "--gpu", "H100"], env={"NO_COLOR": "1"})
    assert r.exit_code == 0
    out = r.stdout
    assert "\x1b[" not in out
    for label, _, letter, _ in PARTS:
        assert f"{letter} {label}" in out, label
    assert ". outside the budget" in out
    bar = next(line.strip() for line in out.splitlines() if re.fullmatch(r"\s*[WANGK.]{20,}\s*", line))
    assert bar.startswith("W") and "K" in bar and bar.endswith(".")
    assert bar == "".join(sorted(bar, key="WANGK.".index))            # in vLLM's accounting order


# -- the picture in the docs --------------------------------------------------------------------------------

def test_the_docs_picture_is_what_the_documented_command_draws(tmp_path: Path) -> None:
    """docs/img/memory-split.svg is `planner estimate llama-3.1-70b --gpu H100 -tp 2 --max-model-len 32768
    --plot docs/img/memory-split.svg` (VLLM_PLANNER_UPDATE_GOLDEN=1 rewrites it)."""
    out = DOC_IMAGE if UPDATE else tmp_path / "memory-split.svg"
    r = runner.invoke(app, [*DOC_ARGS, "--plot", str(out)])
    assert r.exit_code == 1
    if not UPDATE:
        assert out.read_text() == DOC_IMAGE.read_text(), "VLLM_PLANNER_UPDATE_GOLDEN=1 to update the docs picture"


def test_the_cpu_backend_is_drawn_per_numa_node() -> None:
    est, _ = build_estimate(["qwen3-8b", "--kv-cache-memory-bytes", "8G"], gpu=None, device="cpu",
                            gpu_memory_gib=64.0, quant=None, vllm_version=None, vllm_engine=None, revision=None,
                            offline=True, progress=False)
    fig = figure(est)
    assert "one NUMA node (64.00 GiB)" in fig.note and fig.lines[1].startswith("CPU KV cache size: ")
    assert len(fig.bars) == 1 and abs(fig.bars[0].segments[4].gib - 8.0) < 0.01
