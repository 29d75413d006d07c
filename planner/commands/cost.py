"""`planner cost MODEL --gpu G --requests-per-month N --input-len I --output-len O (--api NAME | --api-price IN,OUT)`:
self-hosting on vLLM against a hosted API, per month and per year, with the break-even volume.

Parsing and rendering only: the deployment is resolved by `planner estimate`'s code path, the per-replica
rate is planner.performance.capacity.max_sustainable_rate (the perf model), the arithmetic is
planner.pricing.costing and the
prices are planner.pricing.prices. Every option value is checked before the model is resolved.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.commands import _options as _o
from planner.commands._run import run_command
from planner.errors import SCHEMA_VERSION, PlannerError
from planner.performance.capacity import LoadShape, Slo, max_sustainable_rate, parse_count, parse_rate
from planner.pricing.cost_report import GIVEN, build_report, cost_json
from planner.pricing.prices import ApiPrice, GpuPrice, gpu_offers, gpu_price
from planner.pricing.prices import api_price as catalog_api_price
from planner.release.vllm_versions import LATEST
from planner.rendering.cost import human_lines
from planner.rendering.estimate_head import estimate_json, head_lines, strict_json
from planner.rendering.term import width, wrap_lines
from planner.resolve import estimate_from, parse_invocation, resolve_inputs

if TYPE_CHECKING:
    from planner.memory.estimator import Estimate
    from planner.performance.capacity import Capacity
    from planner.pricing.cost_report import CostReport
    from planner.resolve import Inputs

HELP = ("Compare self-hosting MODEL on vLLM with a hosted API for a monthly volume: replicas for the peak load "
        "(per-replica capacity from the perf model: the highest Poisson rate one replica sustains with a bounded "
        "queue, or within --slo-* targets), monthly and annual cost both ways, $ per 1M tokens, the break-even "
        "volume and a table over volumes, with the dated prices used. Counts take vLLM's human numbers: 500k = "
        "500,000, 2m = 2,000,000, 2M = 2,097,152 (binary, as vLLM reads it). Takes every option of `planner "
        "estimate` and vLLM serve flags. Exit 0 compared, 1 vLLM would refuse to start, 2 bad input.")

MAX_LEN = 1 << 20
_Str = str | None
_Float = float | None


def _opt(flag: str, help_text: str, metavar: str = "N") -> Any:
    return typer.Option(flag, help=help_text, metavar=metavar)


def command(
    ctx: typer.Context,
    gpu: _o.Gpu = None,
    device: _o.Device = None,
    gpu_memory_gib: _o.GpuMemoryGib = None,
    quant: _o.Quant = None,
    vllm_version: _o.VllmVersion = None,
    vllm_engine: _o.VllmEngine = None,
    revision: _o.Revision = None,
    offline: _o.Offline = False,
    hf_token: _o.HfToken = None,
    requests_per_month: Annotated[_Str, _opt(
        "--requests-per-month", "Requests a month: 500000, 500k, 2m (= 2,000,000); 2M is 2,097,152 as in vLLM.",
        "COUNT")] = None,
    input_len: Annotated[int | None, _opt("--input-len", "Prompt tokens per request.")] = None,
    output_len: Annotated[int | None, _opt("--output-len", "Output tokens per request.")] = None,
    api: Annotated[_Str, _opt("--api", "Hosted model to compare with, from the price catalog (e.g. gpt-4o).",
                              "NAME")] = None,
    api_provider: Annotated[_Str, _opt("--api-provider", "The provider, when several price --api NAME.",
                                       "NAME")] = None,
    api_price: Annotated[_Str, _opt("--api-price", "Hosted prices in USD per 1M input,output tokens "
                                    "(e.g. 0.40,1.60), instead of --api.", "IN,OUT")] = None,
    gpu_price: Annotated[_Float, _opt("--gpu-price", "USD per GPU-hour, instead of the price catalog's.",
                                      "USD")] = None,
    provider: Annotated[_Str, _opt("--provider", "Take the GPU-hour price of this provider (its cheapest offer "
                                   "of --price-kind).", "NAME")] = None,
    price_kind: Annotated[str, _opt("--price-kind", "on-demand (default), spot or reserved.", "KIND")] = "on-demand",
    fixed_monthly: Annotated[float, _opt("--fixed-monthly", "Fixed USD a month on top of the GPUs (storage, "
                                         "network, engineering time).", "USD")] = 0.0,
    hours_per_month: Annotated[float, _opt("--hours-per-month", "GPU-hours a month per GPU; also the month of "
                                           "the volume (720 = 30 days).", "H")] = 720.0,
    peak_to_average: Annotated[float, _opt("--peak-to-average", "Peak over average request rate: replicas are "
                                           "sized for the peak (traffic is not flat).", "X")] = 2.0,
    slo_ttft_ms: Annotated[_Float, _opt("--slo-ttft-ms", "Target time to first token at --slo-percentile.",
                                        "MS")] = None,
    slo_tpot_ms: Annotated[_Float, _opt("--slo-tpot-ms", "Target time per output token at --slo-percentile.",
                                        "MS")] = None,
    slo_e2el_ms: Annotated[_Float, _opt("--slo-e2el-ms", "Target end-to-end latency at --slo-percentile.",
                                        "MS")] = None,
    slo_percentile: Annotated[float, _opt("--slo-percentile", "Percentile of the targets (default 95).",
                                          "P")] = 95.0,
    per_replica_rate: Annotated[_Str, _opt(
        "--per-replica-rate", "A measured per-replica rate (req/s, or N/min, N/h, ...) instead of the perf "
        "model's.", "RATE")] = None,
    json_out: _o.JsonOut = False,
    debug: _o.Debug = False,
) -> None:
    def run() -> int:
        opts = _parse(requests_per_month, input_len, output_len, api, api_provider, api_price, gpu_price, provider,
                      price_kind, fixed_monthly, hours_per_month, peak_to_average, slo_ttft_ms, slo_tpot_ms,
                      slo_e2el_ms, slo_percentile, per_replica_rate)
        inputs, est, tp_note = _deployment(list(ctx.args), gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib,
                                           quant=quant, vllm_version=vllm_version, vllm_engine=vllm_engine,
                                           revision=revision, offline=offline, progress=not json_out,
                                           token=hf_token)
        source_warnings = [str(w) for w in inputs.model.warnings]
        notes = [tp_note] if tp_note else []
        if not est.fits:
            _emit_would_fail(est, source_warnings, json_out=json_out)
            return 1
        report = compare(est, opts)
        if json_out:
            _write(_dumps(to_json(est, report, source_warnings, notes)))
        else:
            cols = width(sys.stdout)
            head = head_lines(est, source_warnings, cols) + wrap_lines([f"note: {n}" for n in notes], cols)
            _write("\n".join(human_lines(report, head, requests_text=opts["requests_text"], cols=cols)) + "\n")
        return 0

    run_command(run, json_mode=json_out, debug=debug)


def _write(text: str) -> None:
    sys.stdout.write(text)


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(strict_json(obj), indent=2, allow_nan=False) + "\n"


# Upper bounds of the money and ratio options. Each is far above any real price or load, and together with
# MAX_REQUESTS_PER_MONTH, MIN_HOURS_PER_MONTH and MIN_PER_REPLICA_RATE they keep every figure of the report
# (replicas, monthly USD, the break-even volume) a finite number: 1e308 USD a GPU-hour, or a 1e-308-hour
# month, made the replica count infinite (an OverflowError, not an answer).
MAX_USD = 1e12                   # --fixed-monthly
MAX_GPU_HOUR_USD = 1e4           # --gpu-price (the dearest GPU-hour in the price catalog is under $20)
MAX_API_USD_PER_MTOK = 1e4       # each --api-price (the dearest hosted API is under $200)
MAX_PEAK_TO_AVERAGE = 1e3
MIN_HOURS_PER_MONTH = 1.0
MAX_HOURS_PER_MONTH = 744.0      # 31 days
MIN_PER_REPLICA_RATE = 1 / 3600  # one request an hour
MAX_REQUESTS_PER_MONTH = 10**15


def _number(flag: str, value: float | None, *, lo: float, lo_open: bool = False, hi: float = math.inf) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < lo or (lo_open and value == lo) or value > hi:
        bound = f"above {lo:g}" if lo_open else f"at least {lo:g}"
        if math.isfinite(hi):
            bound += f" and at most {hi:g}"
        raise PlannerError(f"{flag} must be a finite number {bound}, got {value:g}")


def parse_api_price(text: str) -> tuple[float, float]:
    """`IN,OUT` in USD per 1M tokens -> (in, out); both finite and >= 0, not both 0."""
    parts = [p.strip() for p in text.split(",")]
    bad = PlannerError(f"--api-price must be IN,OUT in USD per 1M tokens, got {text[:40]!r}",
                       hint="e.g. --api-price 0.40,1.60")
    if len(parts) != 2:
        raise bad
    try:
        a, b = float(parts[0].lstrip("$")), float(parts[1].lstrip("$"))
    except ValueError:
        raise bad from None
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0 or a == b == 0:
        raise PlannerError(f"--api-price prices must be finite, non-negative and not both 0, got {text[:40]!r}")
    if max(a, b) > MAX_API_USD_PER_MTOK:
        raise PlannerError(f"--api-price prices must be at most {MAX_API_USD_PER_MTOK:g} USD per 1M tokens, "
                           f"got {text[:40]!r}")
    return a, b


def _parse(requests_per_month: str | None, input_len: int | None, output_len: int | None, api: str | None,
           api_provider: str | None, api_price: str | None, gpu_price: float | None, provider: str | None,
           price_kind: str, fixed_monthly: float, hours_per_month: float, peak_to_average: float,
           slo_ttft_ms: float | None, slo_tpot_ms: float | None, slo_e2el_ms: float | None,
           slo_percentile: float, per_replica_rate: str | None) -> dict[str, Any]:
    """Every option checked before the model is resolved."""
    if requests_per_month is None:
        raise PlannerError("--requests-per-month is required", hint="e.g. --requests-per-month 500k")
    n = parse_count(requests_per_month)
    if n > MAX_REQUESTS_PER_MONTH:
        raise PlannerError(f"--requests-per-month must be at most 10^15, got {n:,}")
    for flag, v in (("--input-len", input_len), ("--output-len", output_len)):
        if v is None:
            raise PlannerError(f"{flag} is required", hint="tokens per request, e.g. --input-len 700 --output-len 100")
        if not 1 <= v <= MAX_LEN:
            raise PlannerError(f"{flag} must be an integer from 1 to {MAX_LEN:,}, got {v}")
    _number("--fixed-monthly", fixed_monthly, lo=0, hi=MAX_USD)
    _number("--hours-per-month", hours_per_month, lo=MIN_HOURS_PER_MONTH, hi=MAX_HOURS_PER_MONTH)
    _number("--peak-to-average", peak_to_average, lo=1, hi=MAX_PEAK_TO_AVERAGE)
    _number("--gpu-price", gpu_price, lo=0, hi=MAX_GPU_HOUR_USD)
    for name, ms in (("--slo-ttft-ms", slo_ttft_ms), ("--slo-tpot-ms", slo_tpot_ms), ("--slo-e2el-ms", slo_e2el_ms)):
        _number(name, ms, lo=0, lo_open=True)
    if not (0 < slo_percentile <= 100):
        raise PlannerError(f"--slo-percentile must be in (0, 100], got {slo_percentile:g}")
    if price_kind not in ("on-demand", "spot", "reserved"):
        raise PlannerError(f"--price-kind must be on-demand, spot or reserved, got {price_kind!r}")
    if gpu_price is not None and (provider is not None or price_kind != "on-demand"):
        raise PlannerError("--gpu-price gives the price itself; --provider and --price-kind pick one from the "
                           "catalog: use one or the other")
    if (api is None) == (api_price is None):
        raise PlannerError("give the hosted side with --api NAME (from the price catalog) or --api-price IN,OUT"
                           if api is None else "--api and --api-price: give one of them",
                           hint="e.g. --api gpt-4o, or --api-price 0.40,1.60")
    if api is not None:
        hosted = catalog_api_price(api, provider=api_provider)
    else:
        if api_provider is not None:
            raise PlannerError("--api-provider picks among --api prices; --api-price gives them")
        pin, pout = parse_api_price(str(api_price))
        hosted = ApiPrice(provider="--api-price", model="", input_usd_per_mtok=pin, output_usd_per_mtok=pout,
                          date=None, source=GIVEN)
    slo = Slo(slo_ttft_ms, slo_tpot_ms, slo_e2el_ms, slo_percentile)
    rate = parse_rate(per_replica_rate, flag="--per-replica-rate", hours_per_month=hours_per_month) \
        if per_replica_rate is not None else None
    if rate is not None and rate < MIN_PER_REPLICA_RATE:
        raise PlannerError(f"--per-replica-rate must be at least 1 request an hour, got {str(per_replica_rate)[:40]!r}",
                           hint="e.g. 2/s, 120/min, 7200/h")
    if rate is not None and not slo.empty:
        raise PlannerError("--per-replica-rate is a measured capacity; the --slo-* targets size one from the "
                           "perf model: use one or the other")
    return {"requests": n, "requests_text": requests_per_month, "input_len": input_len, "output_len": output_len,
            "api": hosted, "gpu_price": gpu_price, "provider": provider, "price_kind": price_kind,
            "fixed_monthly": fixed_monthly, "hours_per_month": hours_per_month, "peak_to_average": peak_to_average,
            "slo": None if slo.empty else slo, "per_replica_rate": rate}


def _deployment(extra: list[str], *, gpu: str | None, device: str | None, gpu_memory_gib: float | None,
                quant: str | None, vllm_version: str | None, vllm_engine: str | None, revision: str | None,
                offline: bool, progress: bool, token: str | None) -> tuple[Inputs, Estimate, str | None]:
    """The estimate of the deployment; when it would not start and no parallel size was given, the smallest
    tensor-parallel size (2, 4, 8 within one node) at which it starts, with a note that says so."""


    usage = "planner cost MODEL --gpu H100 --requests-per-month 1m ..., or -- vllm serve MODEL ..."
    inputs = resolve_inputs(extra, gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib, quant=quant,
                            vllm_version=vllm_version, vllm_engine=vllm_engine, revision=revision, offline=offline,
                            progress=progress, token=token, usage=usage)
    est = estimate_from(inputs)
    if est.fits:
        return inputs, est, None
    _, cmd = parse_invocation(extra, None, vllm_version or LATEST, usage=usage)
    if any(cmd.flag(d) is not None for d in ("tensor_parallel_size", "pipeline_parallel_size")):
        return inputs, est, None
    first = est.errors[0].message if est.errors else "it would not start"
    per_node = inputs.gpu.gpus_per_node or 8
    for tp in (2, 4, 8):
        if tp > per_node:
            break
        trial = replace(inputs, args=replace(inputs.args, tensor_parallel_size=tp))
        e = estimate_from(trial)
        if e.fits:
            return trial, e, (f"--tensor-parallel-size {tp}: the smallest TP at which the deployment starts on "
                              f"{inputs.gpu.id} (at TP 1: {first}); give -tp to choose another")
    return inputs, est, None


def _shape(opts: dict[str, Any]) -> LoadShape:
    return LoadShape(dataset_name="random", random_input_len=int(opts["input_len"]),
                     random_output_len=int(opts["output_len"]))


def _gpu_price(est: Estimate, opts: dict[str, Any]) -> GpuPrice:
    if opts["gpu_price"] is not None:
        return GpuPrice(float(opts["gpu_price"]), "--gpu-price", "", GIVEN)
    p = gpu_price(est.gpu.id, provider=opts["provider"], kind=opts["price_kind"])
    if p.source.endswith("gpu-hour.json"):      # the median: name where its offers were read
        urls = sorted({w for o in gpu_offers() if o.gpu == est.gpu.id and o.kind == "on-demand"
                       for w in o.source.replace("(", " ").replace(")", " ").split() if w.startswith("https://")})
        if urls:
            p = replace(p, source=f"{p.source} ({', '.join(urls)})")
    return p


def compare(est: Estimate, opts: dict[str, Any]) -> CostReport:
    price = _gpu_price(est, opts)            # a missing price fails before the search runs
    cap: Capacity | None = None
    if opts["per_replica_rate"] is not None:
        rate = float(opts["per_replica_rate"])
        source = "given with --per-replica-rate"
    else:
        slo: Slo | None = opts["slo"]
        cap = max_sustainable_rate(est, _shape(opts), slo)
        if not cap.met:
            raise PlannerError(f"no request rate meets the targets on this deployment: {cap.reason}",
                               code="slo_unreachable", hint="loosen --slo-*, or pick a faster GPU or a larger TP")
        rate = cap.request_rate
        source = ("perf model: the highest Poisson rate within the targets " + _slo_text(slo) if slo else
                  "perf model: the highest Poisson rate with a bounded queue")
    return build_report(requests_per_month=int(opts["requests"]), input_len=int(opts["input_len"]),
                        output_len=int(opts["output_len"]), per_replica_rate=rate,
                        gpus_per_replica=int(est.resolved.world_size), gpu_price=price, api=opts["api"],
                        hours_per_month=float(opts["hours_per_month"]),
                        fixed_monthly_usd=float(opts["fixed_monthly"]),
                        peak_to_average=float(opts["peak_to_average"]), capacity=cap, rate_source=source)


def _slo_text(slo: Slo) -> str:
    parts = [f"{k.upper()} {v:g} ms" for k, v in slo.targets().items()]
    return f"(p{slo.percentile:g} {', '.join(parts)})"


def to_json(est: Estimate, r: CostReport, source_warnings: list[str], notes: list[str] | None = None) -> dict[str, Any]:
    if r.capacity is not None:
        capacity = r.capacity.to_json()
    else:
        capacity = {"per_replica_request_rate": r.model.per_replica_rate, "met": True, "limit": "given",
                    "reason": r.rate_source, "slo": None, "criterion": "given", "shape": None,
                    "start_rate": None, "num_prompts": None, "predicted": None, "probes": []}
    capacity.update(replicas=r.replicas, gpus_total=r.gpus, request_rate=round(r.peak_rate, 6),
                    peak_to_average=r.model.peak_to_average)
    return {"schema_version": SCHEMA_VERSION, "cost": cost_json(r), "capacity": capacity, "notes": notes or [],
            "estimate": estimate_json(est, source_warnings)}


def _emit_would_fail(est: Estimate, source_warnings: list[str], *, json_out: bool) -> None:
    if json_out:
        _write(_dumps({"schema_version": SCHEMA_VERSION, "cost": None, "capacity": None,
                       "estimate": estimate_json(est, source_warnings)}))
        return
    cols = width(sys.stdout)
    lines = [*head_lines(est, source_warnings, cols), "WOULD FAIL at startup, so there is no self-hosted cost:"]
    lines += wrap_lines([f"  {e.code}: {e.message}" for e in est.errors], cols)
    _write("\n".join(lines) + "\n")
