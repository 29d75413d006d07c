"""Score the performance model against published vLLM benchmarks (tests/data/validation/vllm-perf.jsonl).

`python -m tools.perf_fidelity [--json] [--cases FILE] [--verbose]` maps each case to a model config, a
catalog GPU, `vllm serve` flags and a workload, runs estimate + predict, and compares with the statistic the
source printed (median before mean before p95 before p99) for output throughput, TPOT (ITL where the source
printed no TPOT) and TTFT. It prints the pooled median and p90 absolute % error, per family, GPU, source and
engine era (V0: releases before 0.8 or V0; V1), the median over sources of each source's median, and the
cases it cannot answer with the reason. The data file: --cases, else $VLLM_PLANNER_PERF_CASES, else
tests/data/validation/ next to the package (a source checkout).
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import gpu_catalog
import model_catalog
from planner.memory.estimator import estimate
from planner.performance.calibration import DEFAULT, Calibration
from planner.performance.predict import cost_of, predict
from planner.performance.step_time import hardware
from planner.performance.types import Workload
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import from_catalog, load_model

ENV = "VLLM_PLANNER_PERF_CASES"
DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "validation"
METRICS = ("output_throughput", "tpot", "ttft")

# Model name pattern -> (planner model ref, max_model_len override, note). Refs are model_catalog aliases or
# files under perf-model-configs/ / model-configs/ ("cfg:NAME"). Where the checkpoint's architecture is
# another's with the same shapes the mapping says so; nothing here is fitted.
MODELS: tuple[tuple[str, str, int | None, str], ...] = (
    (r"DeepSeek-R1-Distill-Qwen-14B", "deepseek-r1-distill-qwen-14b", None, ""),
    (r"DeepSeek-R1-Distill-Qwen-32B", "deepseek-r1-distill-qwen-32b", None, ""),
    (r"DeepSeek-R1-0528", "deepseek-r1-0528", None, ""),
    (r"DeepSeek-R1", "deepseek-r1", None, ""),
    (r"DeepSeek-V3\.2", "cfg:deepseek-ai__DeepSeek-V3.2", None, ""),
    (r"gpt-oss-120b", "gpt-oss-120b", None, ""),
    (r"gpt-oss-20b", "gpt-oss-20b", None, ""),
    (r"GLM-4\.5-Air", "cfg:zai-org__GLM-4.5-Air", None, ""),
    (r"GLM-4\.6", "cfg:zai-org__GLM-4.6", None, ""),
    (r"Qwen2-7B", "qwen2.5-7b", None, "Qwen2-7B has Qwen2.5-7B's shapes"),
    (r"Qwen2-72B", "qwen2.5-72b", None, "Qwen2-72B has Qwen2.5-72B's shapes"),
    (r"Qwen2\.5-32B", "qwen2.5-32b", None, ""),
    (r"(?i)llama-?3\.1-405B|Hermes-3-Llama-3\.1-405B|Llama 3\.1 405B", "llama-3.1-405b", None, ""),
    (r"(?i)Nemotron-70B|llama-?3\.1-70B|Llama 3\.1 70B", "llama-3.1-70b", None, ""),
    (r"(?i)llama-?3\.1-8B|Llama 3\.1 8B", "llama-3.1-8b", None, ""),
    (r"Meta-Llama-3-70B", "llama-3.1-70b", 8192, "Llama 3 70B = Llama 3.1 70B's shapes, 8K context"),
    (r"Meta-Llama-3-8B", "llama-3.1-8b", 8192, "Llama 3 8B = Llama 3.1 8B's shapes, 8K context"),
    (r"Mistral-7B", "mistral-7b", None, ""),
    (r"Mistral-Nemo", "mistral-nemo-12b", None, ""),
    (r"Mistral-Large-Instruct-2407", "mistral-large-2411", None, "2407 has 2411's shapes"),
    (r"Mixtral-8x7B", "mixtral-8x7b", None, ""),
    (r"Mixtral-8x22B", "mixtral-8x22b", None, ""),
)
# GPU strings are free text: first matching pattern wins.
GPUS: tuple[tuple[str, str], ...] = (
    (r"GB300", ""), (r"not stated", ""),
    (r"H200", "H200-141GB"), (r"H100 PCIe", "H100-PCIe-80GB"), (r"H100", "H100-SXM-80GB"),
    (r"A100", "A100-SXM-80GB"), (r"B200", "B200-180GB"), (r"MI300X", "MI300X-192GB"),
    (r"RTX 4090", "RTX-4090-24GB"),
)
UNSTATED_VERSION = "0.11.0"
# Months of vLLM releases (GitHub release notes of vllm-project/vllm; a month is the one the release
# appeared in), to date a benchmark whose source states a date but no version: the release of the month
# before the date (a benchmark is run before it is published).
RELEASE_MONTHS: tuple[tuple[str, str], ...] = (
    ("2024-09", "0.6.0"), ("2024-10", "0.6.3"), ("2024-11", "0.6.4"), ("2024-12", "0.6.5"),
    ("2025-01", "0.7.0"), ("2025-02", "0.7.3"), ("2025-03", "0.8.0"), ("2025-04", "0.8.4"),
    ("2025-05", "0.9.0"), ("2025-06", "0.9.1"), ("2025-07", "0.9.2"), ("2025-08", "0.10.1"),
    ("2025-09", "0.10.2"), ("2025-10", "0.11.0"), ("2025-11", "0.11.1"), ("2025-12", "0.12.0"),
)
# Share of the device memory the memory model may be short by, on a deployment the source ran: within
# it the case is modelled with the smallest KV cache vLLM starts with (one max_model_len request).
RAN_ANYWAY_SLACK = 0.05
# Written by `tools/fit_perf.py --holdout family --out ...` beside vllm-perf.jsonl: each family scored with
# coefficients refitted without it; the fidelity command prints it as the held-out figures.
HOLDOUT_FILE = "perf-holdout.json"


class Built(NamedTuple):
    """A case mapped to the planner's inputs."""

    est: Any                 # planner.memory.estimator.Estimate
    workload: Workload
    note: str
    link: str | None = None  # "network": tensor-parallel ranks in separate pods (planner.performance.predict)
    release: str | None = None  # the release that ran, where older than the modelled one (0.5.x)


@dataclass
class CaseResult:
    id: str
    family: str
    gpu: str
    source: str
    era: str
    regime: str = ""                  # burst | rate | concurrency | offline (the load shape)
    errors: dict[str, float] = field(default_factory=dict)        # metric -> signed relative error
    rows: list[tuple[str, str, float, float]] = field(default_factory=list)  # metric, stat, pred, obs
    skipped: str = ""
    note: str = ""


def _source(case: dict[str, Any]) -> str:
    parts = str(case.get("source", "")).split("/")
    return parts[3] if len(parts) > 3 and "github.com" in parts[2] else (parts[2] if len(parts) > 2 else "?")


def _doc(case: dict[str, Any]) -> str:
    return str(case.get("source", "")).split("#")[0]


def repeated_tables(cases: list[dict[str, Any]]) -> dict[str, str]:
    """Case id -> the earlier case whose observed figures it repeats exactly on another GPU: a table the
    source copied (two GPUs do not measure the same eleven figures to the hundredth)."""
    seen: dict[str, dict[str, Any]] = {}
    out: dict[str, str] = {}
    for c in cases:
        key = json.dumps(c.get("observed") or {}, sort_keys=True)
        first = seen.setdefault(key, c)
        if first is not c and first.get("gpu") != c.get("gpu"):
            out[str(c["id"])] = str(first["id"])
    return out


def doc_versions(cases: list[dict[str, Any]]) -> dict[str, str]:
    """Source document -> the one vLLM version its points state (documents that state several are left out)."""
    seen: dict[str, set[str]] = {}
    for c in cases:
        m = re.match(r"\s*(\d+\.\d+(?:\.\d+)*)", str(c.get("vllm_version") or ""))
        if m:
            seen.setdefault(_doc(c), set()).add(m.group(1))
    return {d: next(iter(v)) for d, v in seen.items() if len(v) == 1}


def _dated_release(text: str) -> tuple[str, str] | None:
    """The release of the month a vLLM build is dated ("vLLM main 2025-08"), else of the month before the
    date the source was published; with the reason."""
    m = re.search(r"(20\d\d)-(\d\d)(?:-\d\d)?", text)
    if not m:
        return None
    y, mo = int(m.group(1)), int(m.group(2))
    why = "the release of the month the vLLM build is dated"
    if not re.search(r"vLLM main (?:around )?$", text[:m.start()]):
        y, mo = (y, mo - 1) if mo > 1 else (y - 1, 12)
        why = "the release of the month before the source's date"
    month = f"{y:04d}-{mo:02d}"
    hit = None
    for first, version in RELEASE_MONTHS:
        if first <= month:
            hit = version
    return (hit, why) if hit else None


def _version(case: dict[str, Any], docs: dict[str, str] | None = None) -> tuple[str, str]:
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", str(case.get("vllm_version") or ""))
    if not m:
        flags = str(case.get("other_flags") or "")
        tag = re.search(r"vllm[_-]v?(\d+\.\d+\.\d+)", flags)
        if docs and _doc(case) in docs:
            v, why = docs[_doc(case)], "the version the source's other points state"
        elif tag:
            v, why = tag.group(1), "the release in the image tag the source names"
        elif (dated := _dated_release(flags)) is not None:
            v, why = dated
        else:
            return UNSTATED_VERSION, f"vLLM version unstated: modelled as {UNSTATED_VERSION}"
        m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", v)
        assert m is not None
        note = f"vLLM version unstated: modelled as {v} ({why})"
    else:
        note = ""
    v = ".".join(g for g in m.groups() if g is not None)
    if tuple(int(g) for g in m.groups() if g is not None) < (0, 6):
        return "0.6.0", f"vLLM {v} predates the modelled releases: modelled as 0.6.0 (same V0 engine)"
    return v, note


def _load(ref: str, data: Path) -> Any:
    if ref.startswith("cfg:"):
        name = ref[4:]
        for sub in ("perf-model-configs", "model-configs"):
            p = data / sub / f"{name}.json"
            if p.is_file():
                return json.loads(p.read_text())
        raise LookupError(f"no config file {name}.json")

    return load_model(ref, offline=True)


def _stat(obs: dict[str, Any], metric: str) -> tuple[str, float] | None:
    for stat in ("median", "mean", "p95", "p99"):
        v = obs.get(f"{stat}_{metric}_ms")
        if isinstance(v, (int, float)) and v > 0:
            return stat, float(v)
    return None


def _flag(text: str, name: str) -> str | None:
    m = re.search(rf"--{name}[ =]([\w.]+)", text)
    return m.group(1) if m else None


def build_case(case: dict[str, Any], data: Path, docs: dict[str, str] | None = None) -> Built:
    """The planner's inputs for a case; raises LookupError with the reason it cannot be answered.
    `docs`: doc_versions() of the whole file (a point that states no version takes its document's)."""

    notes: list[str] = []
    name = str(case.get("model") or "")
    hit = next(((ref, mml, note) for pat, ref, mml, note in MODELS if re.search(pat, name)), None)
    if hit is None:
        raise LookupError(f"no config for {name}")
    ref, mml, note = hit
    if note:
        notes.append(note)
    gname = next((g for pat, g in GPUS if re.search(pat, str(case.get("gpu") or ""))), None)
    if not gname:
        raise LookupError(f"GPU not in the catalog or not stated: {case.get('gpu')}")
    gpu = gpu_catalog.resolve(gname)
    tool = str(case.get("benchmark_tool") or "")
    ds = str(case.get("dataset") or "")
    if "closed-loop" in tool and not case.get("max_concurrency"):
        raise LookupError("closed-loop client without a stated concurrency")
    flags = str(case.get("other_flags") or "")
    spec_cfg = re.search(r"--speculative-config '?(\{[^}]*\})", flags)
    if spec_cfg:
        try:
            json.loads(spec_cfg.group(1))
        except ValueError:
            spec_cfg = None          # an elided or garbled config is not a stated one
    if re.search(r"speculative|Eagle|MTP=", flags) and not spec_cfg:
        raise LookupError("speculative decoding: the source does not state its --speculative-config")
    version, vnote = _version(case, docs)
    if vnote:
        notes.append(vnote)
    tp = case.get("tensor_parallel_size") or case.get("num_gpus") or 1
    pp = case.get("pipeline_parallel_size") or 1
    if "DP" in flags and re.search(r"DP\s*\d+|data.parallel", flags) and tp * pp < (case.get("num_gpus") or 1):
        raise LookupError("data-parallel replicas: not modelled")
    kw: dict[str, Any] = {"tensor_parallel_size": int(tp), "pipeline_parallel_size": int(pp)}
    for key in ("max_num_seqs", "max_num_batched_tokens", "max_model_len"):
        if case.get(key):
            kw[key] = int(case[key])
    if mml and "max_model_len" not in kw:
        kw["max_model_len"] = mml
    for key, flag in (("max_model_len", "max-model-len"), ("max_num_seqs", "max-num-seqs"),
                      ("max_num_batched_tokens", "max-num-batched-tokens")):
        v = _flag(flags, flag)
        if v and v.isdigit() and key not in kw:
            kw[key] = int(v)
    util = _flag(flags, "gpu-memory-utilization")
    prose = re.search(r"gpu_memory_utilization\s+([\d.]+)", flags)
    if not util and prose:
        util = prose.group(1)
    if util:
        kw["gpu_memory_utilization"] = float(util)
    kv_stated = re.search(r"Available KV cache memory(?: in each GPU)?:\s*([\d.]+)\s*GiB", flags)
    if kv_stated and not util:
        # the engine's own log line; where the utilization it came from is not given, the KV cache is
        # taken as logged
        kw["kv_cache_memory_bytes"] = int(float(kv_stated.group(1)) * (1 << 30))
        notes.append(f"KV cache memory as the source's log states ({kv_stated.group(1)} GiB per GPU)")
    if spec_cfg:
        kw["speculative_config"] = spec_cfg.group(1)
    if re.search(r"prefix caching enabled", flags):
        kw["enable_prefix_caching"] = True
    if "--async-scheduling" in flags:
        kw["async_scheduling"] = True
    if "--enforce-eager" in flags:
        kw["enforce_eager"] = True
    steps = re.search(r"(?:--)?num-scheduler-steps?[ =](\d+)", flags)
    if steps and int(steps.group(1)) > 1:
        # V0 multi-step scheduling, carried as the flag vLLM takes (argparse accepts the singular prefix)
        kw["passthrough"] = (("--num-scheduler-steps", steps.group(1)),)
        notes.append(f"multi-step scheduling: {steps.group(1)} steps per scheduler call")
    if "--enable-expert-parallel" in flags:
        kw["enable_expert_parallel"] = True
    if re.search(r"chunked prefill (?:False|off)|--enable-chunked-prefill[ =]False|--no-enable-chunked-prefill",
                 flags):
        kw["enable_chunked_prefill"] = False
    kvd = str(case.get("kv_cache_dtype") or "")
    if kvd.startswith("fp8") and "not shown" not in kvd:
        kw["kv_cache_dtype"] = "fp8"
    q = str(case.get("quantization") or "")
    quant = "fp8" if q.startswith("fp8") else None
    ckpt = model_catalog.lookup(name)
    if ckpt is not None and ckpt.variant is not None:
        # the case names a pre-quantized checkpoint the catalog knows: its own quantization_config (ignore
        # lists, scale layout), not the scheme --quant would size on the 16-bit config
        model = from_catalog(ckpt, name)
        notes.append(f"the catalog's config of the checkpoint {ckpt.repo_id}")
    else:
        model = _load(ref, data)
    args = EngineArgs(**kw)
    est = estimate(model, gpu, args, vllm_version=version, quant=quant)

    def ran_anyway(est: Any, kw: dict[str, Any]) -> Any:
        # The source ran it: where the memory model is short by less than RAN_ANYWAY_SLACK of the device
        # memory, model the smallest KV cache vLLM starts with (one request of max_model_len tokens).
        if est.fits or not {e.code for e in est.errors} <= {"no_kv_memory", "kv_cache_too_small"} or \
                "kv_cache_memory_bytes" in kw:
            return est
        mml_r = int(est.resolved.max_model_len or 0)
        per_req = est.kv_cache.blocks_per_request or -(-mml_r // est.kv_cache.block_size)
        need_b = per_req * est.kv_cache.bytes_per_block
        have_b = max(0.0, float(est.kv_cache.num_blocks) * est.kv_cache.bytes_per_block)
        short = need_b - have_b + _negative_kv_bytes(est)
        if need_b <= 0 or short > RAN_ANYWAY_SLACK * float(est.per_gpu.total_gib) * (1 << 30):
            return est
        notes.append(f"the memory model is {short / (1 << 30):.2f} GiB short of a deployment the source ran: "
                     "modelled with the smallest KV cache vLLM starts with (one max_model_len request)")
        return estimate(model, gpu, EngineArgs(**{**kw, "max_model_len": mml_r, "kv_cache_memory_bytes": int(need_b)}),
                        vllm_version=version, quant=quant)

    est = ran_anyway(est, kw)
    if not est.fits and not case.get("max_model_len") and not _flag(flags, "max-model-len"):
        # Benchmarks that do not state --max-model-len ran; a long default context that does not fit is
        # what their operator shortened: retry with the longest context the benchmark needs.
        need = (case.get("input_len") or 1024) + (case.get("output_len") or 1024)
        kw2 = {**kw, "max_model_len": max(4096, int(need * 1.1))}
        est = estimate(model, gpu, EngineArgs(**kw2), vllm_version=version, quant=quant)
        notes.append("max_model_len not stated and the default does not fit: shortened")
        est = ran_anyway(est, kw2)
    limit = min(int(est.resolved.max_model_len), int(est.resolved.max_num_batched_tokens))
    # the prompt length the source states, else the mean its token totals give (a shared-prefix dataset)
    totals = case.get("observed") or {}
    prompt_len = case.get("input_len") or (
        round(float(totals["total_input_tokens"]) / float(totals["completed"]))
        if totals.get("total_input_tokens") and totals.get("completed") else 0)
    if est.fits and est.rules.engine == "v0" and not est.resolved.enable_chunked_prefill and \
            limit < int(est.resolved.max_model_len) and prompt_len > limit and \
            not case.get("max_model_len") and not _flag(flags, "max-model-len"):
        # V0 MLA (0.7.1-0.7.3) with the long default context: chunked prefill is switched off after
        # max_num_batched_tokens was sized for it (vllm/config.py 0.7.3: SchedulerConfig sizes 2048 for
        # chunked prefill, VllmConfig.__post_init__ then turns it off for MLA), and the scheduler ignores
        # prompts over min(max_model_len, max_num_batched_tokens) (Scheduler._get_prompt_limit). The
        # source streamed answers (a TPOT), so its operator shortened the context (as above): the
        # longest the benchmark needs.
        need = prompt_len + (case.get("output_len") or 1024)
        kw = {**kw, "max_model_len": max(4096, int(need * 1.1))}
        est = estimate(model, gpu, EngineArgs(**kw), vllm_version=version, quant=quant)
        notes.append(f"max_model_len not stated and the default context would make vLLM ignore prompts over {limit} "
                     "tokens (chunked prefill off for MLA after the batch was sized): shortened")
        est = ran_anyway(est, kw)
    if not est.fits:
        raise LookupError("the memory model says it would not start: " + "; ".join(e.code for e in est.errors))
    rate_s = str(case.get("request_rate") or "inf")
    offline = "offline" in rate_s or "throughput" in tool
    try:
        rate = float(rate_s.split()[0])
    except ValueError:
        rate = float("inf")
    n = int(case.get("num_prompts") or 1000)
    shared = re.search(r"\((\d+) tokens\) is a shared prefix", flags)
    obs_in = (case.get("observed") or {}).get("total_input_tokens")
    completed = (case.get("observed") or {}).get("completed") or n
    if "shared-prefix" in ds:
        # SGLang's generated-shared-prefix: groups of prompts that share a system prompt. As vLLM's
        # prefix_repetition dataset: the stated shared length, the rest of the mean prompt the source's
        # token totals give as the suffix; the group count is not stated: vLLM's default 10 prefixes
        if not shared or not obs_in or not case.get("output_len"):
            raise LookupError("shared-prefix dataset without its prefix length and token totals")
        pre = int(shared.group(1))
        suf = round(float(obs_in) / float(completed)) - pre
        w = Workload(dataset_name="prefix_repetition", prefix_repetition_prefix_len=pre,
                     prefix_repetition_suffix_len=suf, prefix_repetition_num_prefixes=10,
                     prefix_repetition_output_len=int(case["output_len"]), num_prompts=n, request_rate=rate,
                     max_concurrency=case.get("max_concurrency"), offline_batch=offline)
        notes.append(f"shared prefix as prefix_repetition: {pre} + {suf} tokens, {case['output_len']} out; "
                     "group count not stated: vLLM's default 10 prefixes")
    elif "sharegpt" in ds:
        w = Workload(dataset_name="sharegpt", num_prompts=n, request_rate=rate,
                     max_concurrency=case.get("max_concurrency"), offline_batch=offline)
    else:
        il, ol = case.get("input_len"), case.get("output_len")
        implied = re.search(r"(\d+)/(\d+) implied by totals", ds)
        if implied and not il and not ol:
            il, ol = int(implied.group(1)), int(implied.group(2))
            notes.append("lengths as the source's token totals imply")
        if not il and not ol and not ds and "benchmark_serving" in tool:
            # dataset unstated: benchmark_serving.py's default dataset is ShareGPT
            notes.append("dataset unstated: benchmark_serving.py's default (sharegpt)")
            w = Workload(dataset_name="sharegpt", num_prompts=n, request_rate=rate,
                         max_concurrency=case.get("max_concurrency"), offline_batch=offline)
        else:
            if not il or not ol:
                raise LookupError("input/output lengths not stated")
            w = Workload(random_input_len=int(il), random_output_len=int(ol), num_prompts=n, request_rate=rate,
                         max_concurrency=case.get("max_concurrency"), offline_batch=offline)
    ramp = re.search(r"after (\d+) s ramp-up", flags)
    if ramp and w.max_concurrency:
        # a closed-loop client that starts its workers one by one over the ramp-up
        w = replace(w, ramp_up_s=float(ramp.group(1)))
        notes.append(f"closed-loop workers started over the {ramp.group(1)} s ramp-up")
    link = None
    if int(tp) > 1 and re.search(r"\d+ GPU pods", flags):
        # ranks in separate pods: NCCL cannot use NVLink or peer access between the containers
        link = "network"
        notes.append("tensor parallelism across pods: all-reduce over the host network")
    stated = re.match(r"\s*(\d+\.\d+(?:\.\d+)?)", str(case.get("vllm_version") or ""))
    release = stated.group(1) if stated and tuple(int(x) for x in stated.group(1).split(".")) < (0, 6) else None
    return Built(est, w, "; ".join(notes), link, release)


def _prefill_floor_s(est: Any, pred: Any, stat: str = "median") -> float:
    """No cold TTFT statistic `stat` can be shorter than this: the linear-layer FLOPs of the prompts that
    must be computed first, at the GPU's datasheet peak (per TP rank and pipeline stage, whose share of the
    work cost_of gives). One mean prompt in general; in a burst of fixed-length random prompts (request
    rate inf, no --max-concurrency: every request is in the server from t=0 and its TTFT includes the wait)
    the q-th fraction of requests cannot all have a first token before q x N prompts are computed (any
    schedule, chunked or not): N/2 for the median, (N+1)/2 for the mean (the k-th first token comes after
    k prompts), q x N for pq."""
    b = pred.benchmark
    w = pred.workload
    mean_in = b.total_input_tokens / max(1, b.completed)
    prompts = 1.0
    if w.request_rate == float("inf") and not w.max_concurrency and not w.offline_batch and \
            w.dataset_name == "random" and w.random_range_ratio == 0 and not w.random_prefix_len:
        n = max(1, int(b.completed))
        q = {"median": 0.5, "mean": 0.5, "p95": 0.95, "p99": 0.99}.get(stat, 0.0)
        prompts = max(1.0, (n + 1) / 2 if stat == "mean" else math.ceil(q * n))
    return cost_of(est).dense_flops_per_token * mean_in * prompts / hardware(est.gpu, est.quant).gemm_flops


def _negative_kv_bytes(est: Any) -> float:
    """How far below zero the memory model's KV budget went (0 when it is not negative)."""
    return max(0.0, -float(est.per_gpu.kv_cache_gib)) * (1 << 30)


def run_case(case: dict[str, Any], data: Path, cal: Calibration = DEFAULT, built: Any = None,
             docs: dict[str, str] | None = None, repeats: dict[str, str] | None = None) -> CaseResult:

    ver = str(case.get("vllm_version") or "")
    m = re.match(r"\s*0\.(\d+)", ver)
    era = "V0" if (m and int(m.group(1)) < 8) else "V1"
    res = CaseResult(id=case["id"], family=str(case.get("family") or "?"), gpu=str(case.get("gpu") or "?"),
                     source=_source(case), era=era)
    if repeats and case["id"] in repeats:
        res.skipped = (f"observed figures identical to {repeats[case['id']]}'s on another GPU: the source "
                       "repeated a table")
        return res
    try:
        est, w, note, link, release = built if built is not None else build_case(case, data, docs)
    except LookupError as e:
        res.skipped = str(e)
        return res
    res.note = note
    if est.rules.engine == "v0":
        res.era = "V0"
    res.regime = ("offline" if w.offline_batch else "concurrency" if w.max_concurrency else
                  "burst" if w.request_rate == float("inf") else "rate")
    try:
        p = predict(est, w, cal, link=link, release=release)
    except (ValueError, RuntimeError) as e:
        res.skipped = f"predict: {e}"
        return res
    b = p.benchmark
    obs = case.get("observed") or {}
    o_tp = obs.get("output_tok_s")
    o_tot = obs.get("total_tok_s")
    if isinstance(o_tp, (int, float)) and o_tp > 0:
        res.rows.append(("output_throughput", "", b.output_throughput, float(o_tp)))
    elif isinstance(o_tot, (int, float)) and o_tot > 0 and w.random_range_ratio == 0 and \
            w.dataset_name == "random":
        # `vllm bench throughput` prints tokens/s of input + output; with fixed lengths both runs hold
        # the same tokens, so its relative error is the output throughput's
        res.rows.append(("output_throughput", "total_tok_s", b.total_token_throughput, float(o_tot)))
    for metric, pref in (("tpot", ("tpot", "itl")), ("ttft", ("ttft",))):
        for name in pref:
            got = _stat(obs, name)
            if got:
                stat, v = got
                if metric == "ttft" and v / 1000 < _prefill_floor_s(est, p, stat):
                    # faster than the prompts' GEMMs at the datasheet peak: the prompts were in the
                    # prefix cache (a sweep that repeats the same seeded prompts on one server: with
                    # fixed lengths numpy draws nothing for the one-value length range, so the random
                    # dataset's token offsets are the same for any --num-prompts and a longer run
                    # starts with the shorter runs' prompts)
                    res.note = "; ".join(x for x in (res.note, "TTFT not scored: observed faster than the "
                                                     "prompt's prefill at peak FLOPS (prefix-cache hits "
                                                     "from an earlier run)") if x)
                    break
                res.rows.append((metric, f"{stat}_{name}", float(getattr(b, f"{stat}_{name}_ms")), v))
                break
    for metric, _stat_name, pred, o in res.rows:
        res.errors[metric] = (pred - o) / o
    return res


def load_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def find_data(arg: str | None) -> Path:
    cands = (arg,) if arg else (os.environ.get(ENV), str(DATA / "vllm-perf.jsonl"))
    for cand in cands:
        if cand:
            p = Path(cand)
            if p.is_dir():
                p = p / "vllm-perf.jsonl"
            if p.is_file():
                return p
    raise FileNotFoundError(f"vllm-perf.jsonl not found: pass --cases FILE or set {ENV}")


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    answered = [r for r in results if not r.skipped]
    out: dict[str, Any] = {"cases": len(results), "answered": len(answered),
                           "answer_rate": len(answered) / len(results) if results else 0.0}

    def block(rs: list[CaseResult]) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for m in METRICS:
            e = [abs(r.errors[m]) for r in rs if m in r.errors]
            if e:
                d[m] = {"n": len(e), "median": statistics.median(e), "p90": _pct(e, 0.9),
                        "bias": statistics.median([r.errors[m] for r in rs if m in r.errors])}
        return d

    out["pooled"] = block(answered)
    for key in ("family", "gpu", "source", "era", "regime"):
        groups: dict[str, list[CaseResult]] = {}
        for r in answered:
            groups.setdefault(getattr(r, key), []).append(r)
        out[f"by_{key}"] = {k: block(v) for k, v in sorted(groups.items())}

    def source_medians(rs: list[CaseResult]) -> dict[str, float]:
        by: dict[str, list[CaseResult]] = {}
        for r in rs:
            by.setdefault(r.source, []).append(r)
        blocks = [block(v) for v in by.values()]
        return {m: statistics.median([b[m]["median"] for b in blocks if m in b])
                for m in METRICS if any(m in b for b in blocks)}

    out["median_of_source_medians"] = source_medians(answered)
    out["median_of_source_medians_by_era"] = {
        era: source_medians([r for r in answered if r.era == era]) for era in sorted({r.era for r in answered})}
    out["peer_subset"] = {"what": PEER_SUBSET, "aiconfigurator": PEER_AIC,
                          "planner": block([r for r in answered if _peer_case(r)])}
    out["unanswered"] = {r.id: r.skipped for r in results if r.skipped}
    return out


# The cases issue 12 compared NVIDIA AIConfigurator 0.12 on: its tables cover H100 SXM (none for H100 PCIe,
# MI300X or RTX 4090) and it models a fixed-concurrency client. Its figures are the (measured by the
# issue's author on the same published benchmarks, CPU only), not rerun here.
PEER_SUBSET = "H100 SXM at fixed concurrency (--max-concurrency)"
PEER_AIC = "output throughput ~6 %, TPOT ~9 %, TTFT 27-66 % (median error; issue 12)"


def _peer_case(r: CaseResult) -> bool:
    return r.regime == "concurrency" and "H100" in r.gpu and "PCIe" not in r.gpu


def run_all(path: str | None = None, cal: Calibration = DEFAULT) -> tuple[list[CaseResult], dict[str, Any]]:
    p = find_data(path)
    cases = load_cases(p)
    docs, repeats = doc_versions(cases), repeated_tables(cases)
    results = [run_case(c, p.parent, cal, docs=docs, repeats=repeats) for c in cases]
    return results, summarize(results)


def _fmt_block(d: dict[str, Any]) -> str:
    return "  ".join(f"{m} {v['median']:.1%}/{v['p90']:.1%} (n={v['n']}, bias {v['bias']:+.0%})"
                     for m, v in d.items())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    verbose = "--verbose" in argv
    path_arg = None
    if "--cases" in argv:
        i = argv.index("--cases")
        path_arg = argv[i + 1] if i + 1 < len(argv) else None
        if path_arg is None:
            print("error: --cases needs a file", file=sys.stderr)
            return 2
    try:
        path = find_data(path_arg)
        cases = load_cases(path)
    except (FileNotFoundError, OSError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = path.parent
    docs, repeats = doc_versions(cases), repeated_tables(cases)
    results = [run_case(c, data, docs=docs, repeats=repeats) for c in cases]
    summary = summarize(results)
    if as_json:
        summary["results"] = [{"id": r.id, "errors": r.errors, "rows": r.rows, "skipped": r.skipped,
                               "note": r.note} for r in results]
        print(json.dumps(summary, indent=1, default=str))
        return 0
    if verbose:
        for r in results:
            if r.skipped:
                continue
            cells = "  ".join(f"{m}{'(' + s + ')' if s else ''} {p:.1f} vs {o:.1f} ({(p - o) / o:+.0%})"
                              for m, s, p, o in r.rows)
            print(f"{r.id} {r.family[:18]:18} {r.gpu[:14]:14} {cells}")
    print(f"answered {summary['answered']}/{summary['cases']} ({summary['answer_rate']:.1%}); "
          "median/p90 abs error")
    print("pooled:", _fmt_block(summary["pooled"]))
    for key in ("era", "regime", "family", "gpu", "source"):
        print(f"by {key}:")
        for k, v in summary[f"by_{key}"].items():
            print(f"  {k[:40]:40} {_fmt_block(v)}")
    print("median of source medians:", "  ".join(f"{m} {v:.1%}" for m, v in
                                                summary["median_of_source_medians"].items()))
    for era, meds in summary["median_of_source_medians_by_era"].items():
        print(f"  {era}:", "  ".join(f"{m} {v:.1%}" for m, v in meds.items()))
    peer = summary["peer_subset"]
    print(f"peer comparison, {peer['what']}: planner {_fmt_block(peer['planner']) or '(no case)'}; "
          f"AIConfigurator {peer['aiconfigurator']}")
    held = data / HOLDOUT_FILE
    if held.is_file():
        h = json.loads(held.read_text())
        print(f"held out ({h.get('how', 'tools/fit_perf.py')}):")
        for g, v in h.get("groups", {}).items():
            print(f"  {g[:48]:48} " + "  ".join(
                f"{m} {x['median']:.1%}" + (f"/{x['p90']:.1%}" if x.get("p90") is not None else "") + f" (n={x['n']})"
                for m, x in v.items()))
    print("unanswered:")
    for k, v in summary["unanswered"].items():
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
