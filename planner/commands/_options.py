"""The options of `planner estimate`, declared once for every command that runs the memory model.

`estimate` and `perf` take the same inputs (`perf` adds the workload on top), so their option
declarations live here as Annotated aliases: a command signature lists them, and an option added here
reaches both commands with the same spelling and help.
"""

from __future__ import annotations

from typing import Annotated

import typer

from planner.release.vllm_versions import LATEST

Gpu = Annotated[str | None, typer.Option("--gpu", help="GPU: catalog id, alias, nvidia-smi name or GFD label.")]
Device = Annotated[str | None, typer.Option("--device", help="cuda (default) or cpu (vLLM's CPU backend).")]
GpuMemoryGib = Annotated[float | None, typer.Option(
    "--gpu-memory-gib", help="Override the device total (cudaMemGetInfo) in GiB.")]
Quant = Annotated[str | None, typer.Option(
    "--quant", help="Weight quantization: none, fp8, int8, awq, gptq, gptq-int8, int4, mxfp4, nvfp4, bnb-nf4 "
    "(or vLLM's method names).")]
VllmVersion = Annotated[str | None, typer.Option("--vllm-version", help=f"vLLM release to model (default {LATEST}).")]
VllmEngine = Annotated[str | None, typer.Option("--vllm-engine", help="v0 or v1 (for 0.8-0.10).")]
Revision = Annotated[str | None, typer.Option("--revision", help="Hub revision (branch, tag or commit).")]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network (Hub cache or catalog).")]
HfToken = Annotated[str | None, typer.Option(
    "--hf-token", help="Hugging Face token for gated or private repos (default: HF_TOKEN or the `hf auth login` "
    "token).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the JSON contract (schema_version 1).")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]

# The workload's lengths as `vllm bench serve` spells them: `perf` simulates them, `plan` sizes replicas for
# them. Read as text and checked by planner.performance.bench_flags (one PlannerError naming the flag).
DatasetName = Annotated[str | None, typer.Option("--dataset-name", help="random (default) or sharegpt.",
                                                 metavar="NAME")]
RandomInputLen = Annotated[str | None, typer.Option("--random-input-len", help="Prompt tokens (random; default 1024).",
                                                    metavar="N")]
RandomOutputLen = Annotated[str | None, typer.Option("--random-output-len", help="Output tokens (random; default 128).",
                                                     metavar="N")]
