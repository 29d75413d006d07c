"""`planner perf`: its workload flags, vLLM's result block, the JSON contract, sweeps, the chart and the
plot files, and its error contract.

Rendering is tested on predictions built by hand from a real Estimate (the catalog's qwen3-8b on an H100),
a real SimResult and the real `summarize`, so it does not wait on the performance model; the end-to-end
tests run `planner.performance.predict` itself and are skipped until it exists.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, cast
from xml.etree import ElementTree

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from pngread import read_png
from typer.testing import CliRunner

from planner.cli import app
from planner.commands import perf as perf_cmd
from planner.errors import PlannerError
from planner.performance.bench_flags import (
    MAX_CONCURRENCY,
    MAX_NUM_PROMPTS,
    MAX_SWEEP_POINTS,
    Sweep,
    WorkloadFlags,
    parse_sweep,
    parse_workload,
)
from planner.performance.metrics import BenchmarkResult, summarize
from planner.performance.types import Request, RequestTiming, SimResult, Workload
from planner.rendering.perf import MARKERS, peak_output_tokens_per_s, serving_block, terminal_chart, throughput_lines

runner = CliRunner()
BASE = ("perf", "qwen3-8b", "--gpu", "H100")

# vllm/benchmarks/serve.py 0.33 (benchmark(), default --percentile-metrics ttft,tpot,itl and
# --metric-percentiles 99, a tokenizer, no goodput): the labels in the order printed. None marks a
# section rule, whose title is the header text.
VLLM_BLOCK = [
    ("=", " Serving Benchmark Result "),
    "Successful requests:", "Failed requests:", "Maximum request concurrency:", "Request rate configured (RPS):",
    "Benchmark duration (s):", "Total input tokens:", "Total generated tokens:", "Request throughput (req/s):",
    "Output token throughput (tok/s):", "Peak output token throughput (tok/s):", "Peak concurrent requests:",
    "Total token throughput (tok/s):",
    ("-", "Time to First Token"), "Mean TTFT (ms):", "Median TTFT (ms):", "P99 TTFT (ms):",
    ("-", "Time per Output Token (excl. 1st token)"), "Mean TPOT (ms):", "Median TPOT (ms):", "P99 TPOT (ms):",
    ("-", "Inter-token Latency"), "Mean ITL (ms):", "Median ITL (ms):", "P99 ITL (ms):",
    ("=", ""),
]
# The keys `vllm bench serve --save-result` writes for these metrics (serve.py result dict and
# process_one_metric), with --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 95,99.
VLLM_SAVE_KEYS = {"duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
                  "request_throughput", "output_throughput", "total_token_throughput", "max_output_tokens_per_s",
                  "max_concurrent_requests"} | {
    f"{s}_{m}_ms" for s in ("mean", "median", "std", "p95", "p99") for m in ("ttft", "tpot", "itl", "e2el")}


@dataclass(frozen=True)
class HandBounds:
    """What predict's Bounds offers the command: a JSON object and sentences."""

    main: str

    def to_json(self) -> dict[str, Any]:
        return {"main": self.main}

    def lines(self) -> list[str]:
        return [f"bound by {self.main}: " + " ".join(["word"] * 40)]    # longer than a line: wrapped (issue 15)


@dataclass(frozen=True)
class HandPrediction:
    workload: Workload
    benchmark: BenchmarkResult
    bounds: HandBounds
    sim: SimResult


def hand_sim(n: int, out_len: int, ttft: float, gap: float, stagger: float = 0.0) -> SimResult:
    timings = []
    for i in range(n):
        req = Request(id=i, arrival_s=i * stagger, input_len=100, output_len=out_len)
        sent = i * stagger
        first = sent + ttft
        timings.append(RequestTiming(request=req, sent_s=sent, first_token_s=first,
                                     finish_s=first + gap * (out_len - 1), itl_s=(gap,) * (out_len - 1)))
    end = max(t.finish_s for t in timings)
    return SimResult(timings=tuple(timings), duration_s=end, max_concurrent_requests=n)


def hand_prediction(w: Workload, scale: float = 1.0) -> HandPrediction:
    """A plausible prediction whose latency grows with `scale` (a larger batch)."""
    sim = hand_sim(8, 16, 0.05 * scale, 0.01 * scale, 0.02)
    return HandPrediction(w, summarize(sim), HandBounds("weights" if scale < 2 else "kv_reads"), sim)


@pytest.fixture(scope="module")
def est() -> Any:
    from planner.commands.estimate import build_estimate

    built = build_estimate([], gpu="H100", device=None, gpu_memory_gib=None, quant=None, vllm_version=None,
                           vllm_engine=None, revision=None, offline=True, progress=False, model="qwen3-8b")
    e, _ = cast("tuple[Any, Any]", built)
    assert e.fits
    return e


def labels_of(lines: list[str]) -> list[object]:
    out: list[object] = []
    for line in lines:
        if line and line == line[0] * len(line):
            out.append((line[0], ""))
        elif line.startswith(("=", "-")):
            c = line[0]
            out.append((c, line.strip(c)))
        else:
            out.append(line[:40].rstrip())
    return out


# -- vLLM's result block ------------------------------------------------------------------------------------

def test_serving_block_has_vllms_labels_in_vllms_order_and_widths() -> None:
    w = Workload(max_concurrency=4, request_rate=2.0)
    b = summarize(hand_sim(8, 16, 0.05, 0.01, 0.02))
    lines = serving_block(b, w, 123.0)
    assert labels_of(lines) == VLLM_BLOCK
    for line in lines:
        if line[0] in "=-":
            assert len(line) == 50
        else:   # "{:<40} {:<10}": label padded to 40, a space, the value padded to 10
            assert line[40] == " " and len(line) >= 51 and line[:40].rstrip().endswith(":")
    assert "Request rate configured (RPS):           2.00      " in lines
    assert f"{'Peak output token throughput (tok/s):':<40} {123.0:<10.2f}" in lines
    assert f"{'Mean TTFT (ms):':<40} {b.mean_ttft_ms:<10.2f}" in lines


def test_serving_block_leaves_out_the_rate_and_cap_lines_vllm_leaves_out() -> None:
    lines = serving_block(summarize(hand_sim(2, 4, 0.05, 0.01)), Workload(), 0.0)
    text = "\n".join(lines)
    assert "Maximum request concurrency:" not in text and "Request rate configured" not in text
    assert lines[0] == "============ Serving Benchmark Result ============"
    assert lines[-1] == "=" * 50


def test_offline_batch_prints_vllm_bench_throughputs_summary() -> None:
    b = summarize(hand_sim(4, 11, 0.5, 0.05))           # 4 requests, 400 in, 44 out, duration 1.0 s
    assert b.duration == pytest.approx(1.0)
    assert throughput_lines(b) == [
        f"Throughput: {4 / b.duration:.2f} requests/s, {444 / b.duration:.2f} total tokens/s, "
        f"{44 / b.duration:.2f} output tokens/s",
        "Total num prompt tokens:  400", "Total num output tokens:  44"]


def test_peak_output_throughput_counts_tokens_per_one_second_bucket() -> None:
    # One request: first token at 0.5 s, then 9 more every 0.125 s (exact in binary) -> 4 tokens in [0, 1),
    # 6 in [1, 2).
    sim = hand_sim(1, 10, 0.5, 0.125)
    assert peak_output_tokens_per_s(sim) == 6.0
    # Two identical requests double every bucket.
    two = SimResult(timings=sim.timings * 2, duration_s=sim.duration_s, max_concurrent_requests=2)
    assert peak_output_tokens_per_s(two) == 12.0
    assert peak_output_tokens_per_s(SimResult(timings=(), duration_s=0.0, max_concurrent_requests=0)) == 0.0


def test_human_output_mirrors_the_block_then_says_what_bounds_it(est: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    w = Workload(num_prompts=8)
    lines = perf_cmd.human_lines(est, None, [hand_prediction(w)], [])
    start = lines.index("============ Serving Benchmark Result ============")
    end = lines.index("=" * 50)
    assert lines[end + 1] == "What bounds it:"
    # The planner's prose is wrapped at word boundaries to the width (COLUMNS=80 here), under a hanging
    # indent; vLLM's block above it is not (issue 15; this line was "never wrapped" before).
    bounds = lines[end + 2:]
    assert bounds[0].startswith("  bound by weights: ") and len(bounds) > 1
    assert all(len(line) <= 80 for line in bounds) and all(line.startswith("    ") for line in bounds[1:])
    assert " ".join(" ".join(bounds).split()) == "bound by weights: " + " ".join(["word"] * 40)
    assert "qwen3" in lines[0].lower() and "H100" in lines[0]
    assert any(line.startswith("workload: 8 prompts, random 1024 in / 128 out") for line in lines[:start])


# -- the JSON contract -------------------------------------------------------------------------------------

def test_json_benchmark_keys_are_vllms_save_result_keys(est: Any) -> None:
    p = hand_prediction(Workload(num_prompts=8))
    out = json.loads(perf_cmd._dumps(perf_cmd.to_json(est, None, [p], [])))
    assert set(out) == {"schema_version", "benchmark", "bounds", "workload", "estimate"}
    assert out["schema_version"] == 1
    keys = set(out["benchmark"])
    assert keys == {f.name for f in fields(BenchmarkResult)} | {"failed", "max_output_tokens_per_s"}
    assert keys <= VLLM_SAVE_KEYS
    assert out["benchmark"]["completed"] == 8 and out["benchmark"]["failed"] == 0
    assert out["bounds"] == {"main": "weights"}
    assert out["workload"]["request_rate"] == "inf"          # as vLLM saves an infinite rate
    assert out["workload"]["num_prompts"] == 8 and out["workload"]["dataset_name"] == "random"
    assert out["estimate"]["fits"] is True and out["estimate"]["kv_cache"]["tokens"] == est.kv_cache.tokens


def test_json_is_strict_even_when_a_figure_is_not_finite(est: Any) -> None:
    p = hand_prediction(Workload())
    bad = replace(p, benchmark=replace(p.benchmark, request_throughput=math.nan))
    text = perf_cmd._dumps(perf_cmd.to_json(est, None, [bad], []))
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["benchmark"]["request_throughput"] is None


def test_sweep_json_has_one_point_per_value_in_the_given_order(est: Any) -> None:
    sweep = parse_sweep("max-concurrency=8,1,4")
    ws = sweep.workloads(Workload(num_prompts=8))
    preds = [hand_prediction(w, scale=w.max_concurrency or 1) for w in ws]
    out = json.loads(perf_cmd._dumps(perf_cmd.to_json(est, sweep, preds, [])))
    assert set(out) == {"schema_version", "sweep", "points", "estimate"}
    assert out["sweep"] == {"parameter": "max-concurrency", "values": [8, 1, 4]}
    assert [pt["workload"]["max_concurrency"] for pt in out["points"]] == [8, 1, 4]
    for pt in out["points"]:
        assert set(pt) == {"benchmark", "bounds", "workload"}


def test_request_rate_sweep_keeps_inf_and_sets_the_rate() -> None:
    sweep = parse_sweep("request-rate=0.5,2,inf")
    assert sweep.to_json() == {"parameter": "request-rate", "values": [0.5, 2, "inf"]}
    assert [w.request_rate for w in sweep.workloads(Workload())] == [0.5, 2.0, math.inf]


# -- sweep table and terminal chart ------------------------------------------------------------------------

def test_sweep_human_output_has_a_table_row_per_point_and_an_80_column_chart(est: Any) -> None:
    sweep = parse_sweep("max-concurrency=1,2,4,8")
    preds = [hand_prediction(w, scale=w.max_concurrency or 1) for w in sweep.workloads(Workload(num_prompts=8))]
    lines = perf_cmd.human_lines(est, sweep, preds, [])
    head = next(i for i, x in enumerate(lines) if x.lstrip().startswith("# max-concurrency"))
    rows = lines[head + 1:head + 5]
    assert [r.split()[:2] for r in rows] == [["1", "1"], ["2", "2"], ["3", "4"], ["4", "8"]]
    assert any("max concurrency swept" in x for x in lines)
    chart_start = lines.index("output token throughput (tok/s)")
    chart = lines[chart_start:lines.index("", chart_start)]
    assert all(len(x) <= 80 and x.isascii() for x in chart)
    assert "median TPOT (ms)" in chart[-1]
    assert "What bounds it at --max-concurrency 1:" in lines and "What bounds it at --max-concurrency 8:" in lines


def test_terminal_chart_places_each_point_by_its_marker() -> None:
    xs, ys = [10.0, 20.0, 40.0], [100.0, 180.0, 250.0]
    chart = terminal_chart(xs, ys, x_label="x", y_label="y")
    body = chart[1:16]
    pos = {m: (r, row.index(m)) for r, row in enumerate(body) for m in "123" if m in row.split("|", 1)[1]}
    assert set(pos) == {"1", "2", "3"}
    assert pos["1"][1] < pos["2"][1] < pos["3"][1]          # further right: more latency
    assert pos["1"][0] > pos["2"][0] > pos["3"][0]          # higher up: more throughput
    assert len(MARKERS) == MAX_SWEEP_POINTS


# -- plot files --------------------------------------------------------------------------------------------

def _chart() -> Any:
    from planner.rendering.plot import Chart

    return Chart(title="qwen3-8b on 1 x H100: --max-concurrency sweep", x_label="median TPOT (ms)",
                 y_label="output token throughput (tok/s)", xs=(8.0, 9.5, 12.0, 20.0), ys=(120.0, 230.0, 420.0, 700.0),
                 labels=("1", "2", "4", "8"))


def test_svg_is_xml_with_one_point_and_label_per_value(tmp_path: Path) -> None:
    from planner.rendering.plot import write_plot

    path = tmp_path / "sweep.svg"
    write_plot(path, _chart())
    root = ElementTree.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    points = [c for c in root.iter(f"{ns}circle") if c.get("class") == "point"]
    assert len(points) == 4
    xs = [float(c.get("cx", "0")) for c in points]
    ys = [float(c.get("cy", "0")) for c in points]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)      # higher throughput is drawn higher
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"median TPOT (ms)", "output token throughput (tok/s)", "1", "2", "4", "8"} <= texts
    assert [p.find(f"{ns}title").text.split(":")[0] for p in points] == ["1", "2", "4", "8"]  # type: ignore[union-attr]


def test_png_is_valid_and_has_ink_where_the_points_are(tmp_path: Path) -> None:
    from planner.rendering.plot import POINT, _Frame, write_plot

    path = tmp_path / "sweep.png"
    c = _chart()
    write_plot(path, c)
    w, h, raw = read_png(path.read_bytes())
    assert (w, h) == (720, 450)
    rows = [raw[y * (1 + 3 * w):(y + 1) * (1 + 3 * w)] for y in range(h)]
    assert all(r[0] == 0 for r in rows)                     # filter type 0 on every scanline

    def pixel(x: int, y: int) -> tuple[int, ...]:
        return tuple(rows[y][1 + 3 * x:4 + 3 * x])

    f = _Frame(c.xs, c.ys)
    for x, y in zip(c.xs, c.ys, strict=True):
        assert pixel(round(f.px(x)), round(f.py(y))) == POINT
    assert pixel(2, 2) == (255, 255, 255)
    dark = sum(1 for r in rows for i in range(1, len(r), 3) if r[i] < 100)
    assert dark > 500                                       # axes, ticks and the text of the labels


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: Any) -> None:
    from planner.rendering import plot, plotfile

    path = tmp_path / "sweep.svg"
    path.write_text("old")

    def broken(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plotfile.os, "replace", broken)
    with pytest.raises(PlannerError, match="cannot write"):
        plot.write_plot(path, _chart())
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.svg"]


@pytest.mark.parametrize("name, needle", [("plot.txt", "must end in .svg or .png"),
                                          ("missing/plot.svg", "does not exist"),
                                          (".", "is a folder")])
def test_plot_paths_that_cannot_be_written_are_refused(tmp_path: Path, name: str, needle: str) -> None:
    from planner.rendering.plotfile import check_path

    with pytest.raises(PlannerError, match=needle):
        check_path(tmp_path / name)


# -- workload flags ----------------------------------------------------------------------------------------

def test_defaults_are_vllm_bench_serves() -> None:
    w, sweep = parse_workload(WorkloadFlags())
    assert sweep is None
    assert w == Workload(dataset_name="random", random_input_len=1024, random_output_len=128, random_range_ratio=0.0,
                         num_prompts=1000, request_rate=math.inf, burstiness=1.0, max_concurrency=None, seed=0)


@given(inp=st.integers(1, 8192), out=st.integers(1, 512), ratio=st.floats(0, 0.99), n=st.integers(1, 1000),
       rate=st.one_of(st.just("inf"), st.floats(0.01, 1000).map(repr)), burst=st.floats(0.01, 100),
       conc=st.one_of(st.none(), st.integers(1, 1024)), seed=st.integers(0, 2**32 - 1),
       dataset=st.sampled_from(["random", "sharegpt"]))
@settings(max_examples=80)
def test_valid_flags_read_back_as_the_workload(inp: int, out: int, ratio: float, n: int, rate: str, burst: float,
                                               conc: int | None, seed: int, dataset: str) -> None:
    w, _ = parse_workload(WorkloadFlags(dataset_name=dataset, random_input_len=str(inp), random_output_len=str(out),
                                        random_range_ratio=repr(ratio), num_prompts=str(n), request_rate=rate,
                                        burstiness=repr(burst), max_concurrency=None if conc is None else str(conc),
                                        seed=str(seed)))
    assert (w.random_input_len, w.random_output_len, w.random_range_ratio) == (inp, out, ratio)
    assert (w.num_prompts, w.burstiness, w.max_concurrency, w.seed, w.dataset_name) == (n, burst, conc, seed, dataset)
    assert w.request_rate == float(rate)


def test_sweep_refuses_more_than_the_stated_number_of_points() -> None:
    ok = parse_sweep("max-concurrency=" + ",".join(str(i) for i in range(1, MAX_SWEEP_POINTS + 1)))
    assert isinstance(ok, Sweep) and len(ok.values) == MAX_SWEEP_POINTS
    with pytest.raises(PlannerError, match=f"at most {MAX_SWEEP_POINTS}"):
        parse_sweep("max-concurrency=" + ",".join(str(i) for i in range(1, MAX_SWEEP_POINTS + 2)))


# Words that are not valid for the option they are given to, by kind of option.
_NOT_NUMBERS = st.sampled_from(["", "abc", "nan", "NaN", "1,5", "0x10", "--", "1e", "１２", "9" * 400, "-" * 3])


def _bad_count(hi: int) -> st.SearchStrategy[str]:
    return st.one_of(st.integers(max_value=0).map(str), st.integers(min_value=hi + 1).map(str),
                     st.sampled_from(["1.5", "inf", "nan", "1e3"]), _NOT_NUMBERS)


_BAD_LEN = st.one_of(st.integers(max_value=0).map(str), st.integers(min_value=(1 << 20) + 1).map(str),
                     st.sampled_from(["2.5", "inf"]), _NOT_NUMBERS)
_BAD_RATE = st.one_of(st.floats(max_value=0).map(repr), st.floats(min_value=1.1e6, allow_infinity=False).map(repr),
                      st.sampled_from(["-inf", "nan"]), _NOT_NUMBERS)
_BAD_RATIO = st.one_of(st.floats(max_value=-1e-9).map(repr), st.floats(min_value=1.0).map(repr), _NOT_NUMBERS)
_BAD_BURST = st.one_of(st.floats(max_value=0.0099).map(repr), st.floats(min_value=1000.1).map(repr), _NOT_NUMBERS)
_BAD_SWEEP = st.one_of(
    st.sampled_from(["", "max-concurrency", "foo=1,2", "max-concurrency=", "max-concurrency=1,,2", "request-rate=0",
                     "max-concurrency=1,1", "max-concurrency=0,1", "request-rate=nan", "num-prompts=1,2"]),
    st.integers(MAX_SWEEP_POINTS + 1, 200).map(lambda n: "max-concurrency=" + ",".join(map(str, range(1, n + 1)))))
BAD = st.one_of(
    st.tuples(st.just("--num-prompts"), _bad_count(MAX_NUM_PROMPTS)),
    st.tuples(st.just("--max-concurrency"), _bad_count(MAX_CONCURRENCY)),
    st.tuples(st.just("--random-input-len"), _BAD_LEN), st.tuples(st.just("--random-output-len"), _BAD_LEN),
    st.tuples(st.just("--request-rate"), _BAD_RATE), st.tuples(st.just("--random-range-ratio"), _BAD_RATIO),
    st.tuples(st.just("--burstiness"), _BAD_BURST), st.tuples(st.just("--sweep"), _BAD_SWEEP),
    st.tuples(st.just("--seed"), st.one_of(st.integers(max_value=-1).map(str), st.integers(min_value=2**32).map(str))),
    st.tuples(st.just("--dataset-name"), st.sampled_from(["", "sonnet", "hf", "RANDOM", "random "[:-1] + "x"])),
)


def assert_one_error_line(r: Any) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout[-300:], r.stderr[-300:])
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), r.stderr
    assert "internal error" not in lines[0] and len(lines[0]) <= 400
    return lines[0]


@given(bad=BAD, json_mode=st.booleans())
@settings(max_examples=150)
def test_every_bad_workload_value_is_one_line_and_exit_2(bad: tuple[str, str], json_mode: bool) -> None:
    flag, value = bad
    r = runner.invoke(app, [*BASE, flag, value, *(["--json"] if json_mode else [])])
    line = assert_one_error_line(r)
    assert flag.lstrip("-").split("-")[0] in line                 # the flag is named
    if json_mode:
        assert json.loads(r.stdout)["error"]["code"]
    else:
        assert r.stdout == ""


@pytest.mark.parametrize("args, needle", [
    (["--offline-batch", "--request-rate", "4"], "--offline-batch"),
    (["--offline-batch", "--sweep", "max-concurrency=1,2"], "--offline-batch"),
    (["--max-concurrency", "4", "--sweep", "max-concurrency=1,2"], "both given"),
    (["--request-rate", "4", "--sweep", "request-rate=1,2"], "both given"),
    (["--plot", "x.svg"], "--plot draws a sweep"),
    (["--num-prompts", "10000", "--sweep", "max-concurrency=" + ",".join(map(str, range(1, 12)))],
     "simulated requests"),
    (["--num-prompts", "10000", "--random-output-len", "1000"], "output tokens"),
    (["--random-input-len", "100000", "--num-prompts", "10"], "max_model_len"),
    (["--random-input-len", "4000", "--random-output-len", "200", "--max-model-len", "4096"], "max_model_len"),
])
def test_combinations_that_cannot_run_are_refused(args: list[str], needle: str) -> None:
    assert needle in assert_one_error_line(runner.invoke(app, [*BASE, *args]))


@pytest.mark.parametrize("target", ["folder", "missing/x.svg", "x.pdf"])
def test_plot_to_a_folder_or_a_missing_directory_is_exit_2(tmp_path: Path, target: str) -> None:
    path = tmp_path if target == "folder" else tmp_path / target
    r = runner.invoke(app, [*BASE, "--sweep", "max-concurrency=1,2", "--plot", str(path)])
    assert "--plot" in assert_one_error_line(r)
    assert list(tmp_path.iterdir()) == []


def test_perf_takes_every_option_of_estimate() -> None:
    group = typer.main.get_command(app)
    opts = {name: {o for p in cmd.params for o in p.opts} for name, cmd in group.commands.items()}  # type: ignore[attr-defined]
    assert opts["estimate"] <= opts["perf"]
    assert {"--dataset-name", "--random-input-len", "--random-output-len", "--random-range-ratio", "--num-prompts",
            "--request-rate", "--burstiness", "--max-concurrency", "--seed", "--offline-batch", "--sweep",
            "--plot"} <= opts["perf"]


def test_a_deployment_that_would_not_start_exits_1_with_the_reason_and_no_benchmark() -> None:
    r = runner.invoke(app, ["perf", "llama-3.1-405b", "--gpu", "L4", "--json"])
    assert r.exit_code == 1, r.stdout
    out = json.loads(r.stdout)
    assert out["benchmark"] is None and out["bounds"] is None and out["estimate"]["fits"] is False
    assert out["workload"]["num_prompts"] == 1000
    h = runner.invoke(app, ["perf", "llama-3.1-405b", "--gpu", "L4", "--sweep", "max-concurrency=1,2"])
    assert h.exit_code == 1
    assert "WOULD FAIL at startup" in h.stdout and "weights_do_not_fit" in h.stdout
    assert "Serving Benchmark Result" not in h.stdout
    s = json.loads(runner.invoke(app, ["perf", "llama-3.1-405b", "--gpu", "L4", "--sweep", "max-concurrency=1,2",
                                       "--json"]).stdout)
    assert s["points"] == [] and s["sweep"]["values"] == [1, 2]


# -- end to end through planner.performance.predict (run once the performance model is on main) ----------------------

@pytest.fixture
def predict_available() -> None:
    pytest.importorskip("planner.performance.predict")


@pytest.mark.usefixtures("predict_available")
def test_e2e_single_point_json_and_human() -> None:
    args = [*BASE, "--num-prompts", "200", "--random-input-len", "512", "--random-output-len", "64"]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    b = out["benchmark"]
    assert set(b) <= VLLM_SAVE_KEYS and b["completed"] == 200 and b["total_output_tokens"] == 200 * 64
    assert b["output_throughput"] > 0 and b["median_tpot_ms"] > 0
    assert runner.invoke(app, [*args, "--json"]).stdout == r.stdout           # deterministic
    h = runner.invoke(app, args)
    assert h.exit_code == 0
    lines = h.stdout.splitlines()
    block = lines[lines.index("============ Serving Benchmark Result ============"):]
    block = block[:block.index("=" * 50) + 1]
    assert labels_of(block) == [x for x in VLLM_BLOCK if x not in ("Maximum request concurrency:",
                                                                   "Request rate configured (RPS):")]
    assert f"{'Successful requests:':<40} {200:<10}" in block
    assert "What bounds it:" in lines


@pytest.mark.usefixtures("predict_available")
def test_e2e_offline_batch_prints_the_throughput_line() -> None:
    r = runner.invoke(app, [*BASE, "--offline-batch", "--num-prompts", "100", "--random-output-len", "32"])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert any(x.startswith("Throughput: ") and x.endswith(" output tokens/s") for x in r.stdout.splitlines())
    assert "Serving Benchmark Result" not in r.stdout


@pytest.mark.usefixtures("predict_available")
def test_e2e_sweep_with_plots(tmp_path: Path) -> None:
    args = [*BASE, "--num-prompts", "100", "--random-output-len", "64", "--sweep", "max-concurrency=1,4,16"]
    r = runner.invoke(app, [*args, "--json", "--plot", str(tmp_path / "s.svg")])
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert [p["workload"]["max_concurrency"] for p in out["points"]] == [1, 4, 16]
    tput = [p["benchmark"]["output_throughput"] for p in out["points"]]
    assert tput == sorted(tput)                     # more concurrency, no less throughput (far from any limit)
    svg = ElementTree.parse(tmp_path / "s.svg").getroot()
    assert len([c for c in svg.iter("{http://www.w3.org/2000/svg}circle") if c.get("class") == "point"]) == 3
    r2 = runner.invoke(app, [*args, "--plot", str(tmp_path / "s.png")])
    assert r2.exit_code == 0
    read_png((tmp_path / "s.png").read_bytes())
    assert all(len(x) <= 80 for x in r2.stdout[r2.stdout.index("output token throughput (tok/s)\n"):].splitlines()
               if not x.startswith("  "))


@pytest.mark.usefixtures("predict_available")
def test_e2e_subprocess_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "40"}
    proc = subprocess.run([sys.executable, "-m", "planner", *BASE, "--num-prompts", "50", "--dataset-name",
                           "sharegpt"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "============ Serving Benchmark Result ============" in proc.stdout
    assert "Traceback" not in proc.stderr
    # A narrow terminal does not wrap vLLM's block (50 columns, rows of 51), only the planner's prose.
    lines = proc.stdout.splitlines()
    block = lines[lines.index("============ Serving Benchmark Result ============"):lines.index("=" * 50) + 1]
    assert any(line.startswith("Successful requests:") and len(line) == 51 for line in block)
    prose = [x for x in lines if x not in block and " " in x.strip()]
    assert prose and all(len(x) <= 40 for x in prose), [x for x in prose if len(x) > 40]
