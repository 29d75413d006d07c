"""What a `vllm serve` flag is and what it does in the planner's model: `planner flags [NAME]`.

The parse facts (spellings, value type, choices, the releases that have the flag, its history) come from
the flag table (planner/release/vllm_flags.py, extracted from vLLM's source). What a flag does to memory and
performance is written here, for the flags the planner reads (EngineArgs, planner/release/engine_args.py), in
the terms of the planner's own arithmetic (planner/memory/estimator.py, planner/memory/overhead.py,
planner/performance/):
each entry says what the model does with it, not what a benchmark once showed. Defaults that depend on
the release or the GPU are computed from the release rules (planner/release/vllm_versions.py), so they cannot
drift from what `estimate` uses. Every other flag is accepted and passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from planner.errors import PlannerError, did_you_mean
from planner.release.vllm_flags import (
    FlagInfo,
    flag_info,
    flag_status,
    flags_of,
    groups_of,
    normalize_spelling,
    releases_with,
    resolve_group,
    snapshot_versions,
)
from planner.release.vllm_versions import LATEST, batch_defaults, parse_version, rules_for

NOT_MODELLED = "not modelled; accepted and passed through to vLLM unchanged"


@dataclass(frozen=True)
class Effect:
    memory: str
    performance: str
    default: str | Callable[[str], str] | None = None    # text, or text from the release
    modelled: bool = True


def _util_default(version: str) -> str:
    return f"{rules_for(version).default_util} (vLLM {version})"


def _batch_default(field: str) -> Callable[[str], str]:
    def text(version: str) -> str:
        rules = rules_for(version)
        if rules.engine == "v0":
            return ("256" if field == "max_num_seqs" else
                    f"{rules.v0_chunked_mnbt} with chunked prefill, else max(max_model_len, 2048)") + " (V0)"
        tiers: list[tuple[int, str]] = []
        for gib, label in ((24.0, "under 70 GiB (and A100s)"), (80.0, "70 GiB and more"),
                           (192.0, "160 GiB and more")):
            bd = batch_defaults(rules, total_gib=gib, device_name="", cc=(9, 0))
            value = getattr(bd, field)
            if not tiers or tiers[-1][0] != value:
                tiers.append((value, label))
        return "; ".join(f"{v:,} on GPUs {label}" for v, label in tiers) + f" (vLLM {version}, get_batch_defaults)"
    return text


EFFECTS: dict[str, Effect] = {
    "--gpu-memory-utilization": Effect(
        default=_util_default,
        memory="The budget: vLLM may use total x utilization of each GPU. The KV cache gets what is left of it "
               "after the weights, the activation peak, non-torch memory and the CUDA-graph estimate; the rest "
               "(1 - utilization) stays outside, for the CUDA context and other processes. Startup fails when "
               "less than the budget is free.",
        performance="Only through the KV cache: more blocks hold more sequences at once, so fewer requests "
                    "wait or are preempted under load."),
    "--max-model-len": Effect(
        default="the model's maximum (max_position_embeddings or the like in config.json); auto/-1 (0.14+) "
                "fits the longest length the KV cache holds",
        memory="No memory of its own: the KV cache is sized by the budget. It sets how many blocks one "
               "request may need; startup fails when one full-length request does not fit the KV cache, and "
               "'Maximum concurrency' is KV tokens / max_model_len. Above the model's maximum vLLM refuses "
               "to start (unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1).",
        performance="Longer requests read more KV per decode step (attention time grows with context). "
                    "Without chunked prefill it also raises max_num_batched_tokens to at least this value."),
    "--max-num-seqs": Effect(
        default=_batch_default("max_num_seqs"),
        memory="The sampler's profile run holds logits for min(max_num_seqs, max_num_batched_tokens) "
               "requests x vocabulary (part of the activation peak), and CUDA graphs are captured up to "
               "min(2 x max_num_seqs, 512 or 1024 on Blackwell): both come out of the KV cache.",
        performance="The most requests decoded in one step: a cap on batch size and so on throughput; "
                    "requests beyond it wait (perf reports the time it bounds)."),
    "--max-num-batched-tokens": Effect(
        default=_batch_default("max_num_batched_tokens"),
        memory="The profile run's forward pass uses this many tokens: the activation peak grows linearly "
               "with it (MLP intermediates, hidden states), and sliding-window layers keep blocks for it.",
        performance="Tokens per engine step: the prefill chunk size with chunked prefill. Larger chunks "
                    "finish prompts in fewer steps (TTFT) but make the decode steps they share slower (ITL)."),
    "--kv-cache-dtype": Effect(
        default="auto (the model's dtype)",
        memory="Bytes per cached token: fp8 halves a 16-bit cache, so the same budget holds about twice the "
               "tokens; the per-token-head int8/int4/fp8 and nvfp4 layouts are sized too. Other dtypes are "
               "sized at the model's dtype (an upper bound) with a warning.",
        performance="Decode reads every cached token each step: fewer bytes per token shorten the attention "
                    "part of a step when it is bandwidth-bound."),
    "--block-size": Effect(
        default="chosen by the attention backend: 16 on CUDA (32 for MLA on Blackwell with FlashInfer-MLA, "
                "0.10+), 128 on CPU",
        memory="Tokens per KV block. The cache is allocated in whole blocks (tokens = blocks x block size), "
               "and each request rounds up to whole blocks, so a larger block wastes more per request.",
        performance="Not modelled beyond the rounding (block granularity in the scheduler simulation)."),
    "--tensor-parallel-size": Effect(
        default="1",
        memory="Weights (and KV heads) are split over the GPUs: each holds about 1/TP of the layers' weights "
               "(replicated parts, such as KV heads when TP exceeds them, are counted per GPU) plus NCCL / "
               "all-reduce buffers; the KV cache per GPU grows accordingly. Heads must divide by TP.",
        performance="Each step's weight reads and FLOPs are split over TP GPUs, plus two all-reduces per layer "
                    "over the GPU link (NVLink/xGMI or PCIe): faster steps, with diminishing returns."),
    "--pipeline-parallel-size": Effect(
        default="1",
        memory="Layers are split into stages; each GPU holds its stage's weights and KV cache. The tightest "
               "stage decides the KV cache size (the embedding and LM head sit on the first and last).",
        performance="A step takes the slowest stage's time plus the activation hand-offs; V1 keeps several "
                    "batches in flight so the stages overlap."),
    "--data-parallel-size": Effect(
        default="1",
        memory="No change per GPU: each replica holds the whole TP x PP layout. plan counts TP x PP x DP GPUs.",
        performance="Not modelled in perf (one replica is predicted); N replicas serve about N times the "
                    "requests."),
    "--enforce-eager": Effect(
        default="off (CUDA graphs are captured)",
        memory="No CUDA graphs: the CUDA-graph estimate (0.21+) is not subtracted, so the KV cache gets it.",
        performance="Every step pays kernel-launch time per layer, which slows decode at small batch sizes."),
    "--cpu-offload-gb": Effect(
        default="0",
        memory="Parsed and checked (>= 0); the planner does not subtract the offloaded weights yet, so "
               "the estimate stays at the full resident weights (pessimistic).",
        performance="Not modelled (offloaded weights are streamed over PCIe on every step in vLLM).",
        modelled=False),
    "--swap-space": Effect(
        default="4 (GiB of CPU memory, V0)",
        memory="CPU memory for swapped-out sequences (V0 only); no GPU memory, so no effect on the estimate. "
               "Removed in vLLM 0.18.0.",
        performance="Not modelled (V1 recomputes preempted requests instead of swapping).", modelled=False),
    "--kv-cache-memory-bytes": Effect(
        default="unset (the budget decides)",
        memory="Pins the KV cache per GPU to this many bytes (20G = 20 GiB, 20g = 20 GB) and skips vLLM's fit "
               "arithmetic: --gpu-memory-utilization is ignored, and a pin larger than what is left after the "
               "weights ends in CUDA out of memory (predicted as such). On releases before the flag, read as "
               "a what-if with a warning.",
        performance="Only through the KV cache size."),
    "--num-gpu-blocks-override": Effect(
        default="unset",
        memory="Forces the number of KV blocks, as vLLM does, unchecked against the memory left.",
        performance="Only through the KV cache size."),
    "--quantization": Effect(
        default="the checkpoint's quantization_config, else none",
        memory="Weight bytes per parameter of the scheme (fp8 1, int8 1, awq/gptq int4 about 0.5 plus scales "
               "and zeros); on a 16-bit checkpoint fp8 quantizes at load. A scheme that conflicts with the "
               "checkpoint is refused as vLLM refuses it.",
        performance="Fewer weight bytes per step; fp8/int8 GEMMs run natively where the GPU supports them, "
                    "weight-only kernels (Marlin) run 16-bit math with a dequantization cost."),
    "--dtype": Effect(
        default="auto: the checkpoint's dtype (a float32 checkpoint runs in bfloat16; float16 on GPUs "
                "without bfloat16, below compute capability 8.0)",
        memory="Bytes of unquantized weights, activations and (with --kv-cache-dtype auto) the KV cache.",
        performance="Bytes read per step and the GEMM rate of that dtype."),
    "--enable-prefix-caching": Effect(
        default="on in V1 for generative models",
        memory="No memory of its own (cached blocks are the free KV blocks).",
        performance="Not modelled: the benchmark's random prompts share no prefix, so nothing hits. plan "
                    "leaves it at vLLM's default."),
    "--enable-chunked-prefill": Effect(
        default="on in V1; V0 only for contexts above 32K",
        memory="Off: max_num_batched_tokens is raised to at least max_model_len, which raises the activation "
               "peak of the profile run.",
        performance="On: long prompts are split into chunks of max_num_batched_tokens and mixed with decodes; "
                    "off: a prompt that does not fit the budget waits for a step of its own."),
    "--performance-mode": Effect(
        default="balanced",
        memory="throughput doubles the default max_num_batched_tokens and max_num_seqs (larger activation "
               "peak and capture set); interactivity captures CUDA graphs only up to 32.",
        performance="Through those batch limits."),
    "--max-cudagraph-capture-size": Effect(
        default="min(2 x max_num_seqs, 512 or 1024 on Blackwell, max_num_batched_tokens)",
        memory="The largest CUDA-graph batch: the CUDA-graph estimate scales down below 128.",
        performance="Batches above it run without graphs (launch overhead)."),
    "--disable-hybrid-kv-cache-manager": Effect(
        default="off (the hybrid manager is on in V1)",
        memory="Sliding-window and chunked-local layers are allocated as full attention: more KV per token "
               "for Gemma, Llama 4, gpt-oss and the like.",
        performance="Only through the KV cache size."),
    "--disable-sliding-window": Effect(
        default="off",
        memory="Caps max_model_len at the sliding window.",
        performance="Only through max_model_len."),
    "--enable-expert-parallel": Effect(
        default="off",
        memory="MoE experts are split over the GPUs (EP = TP) instead of each expert's matrices: same total, "
               "different rounding; the attention stays tensor parallel.",
        performance="Not modelled separately: perf times the expert weights as under tensor parallelism."),
    "--async-scheduling": Effect(
        default="on in V1 from 0.14 (off on CPU)",
        memory="More batches in flight: sliding-window layers keep blocks for each (max_in_flight_tokens).",
        performance="Scheduling overlaps the GPU step: a smaller per-step CPU overhead."),
    "--speculative-config": Effect(
        default="unset",
        memory="The drafter comes out of the same budget (planner/memory/spec_decode.py): a draft model's weights, "
               "an EAGLE head's layers and fc (and EAGLE3's own lm_head), or the target's MTP layers count in the "
               "weights; their attention layers join every KV block, so the KV cache holds fewer tokens. ngram "
               "adds nothing.",
        performance="planner perf: 1 + a + ... + a^k tokens per step (acceptance a per method) for the cost of "
                    "verifying k + 1 tokens and k draft passes (mtp, eagle, eagle3, ngram)."),
    "--enable-lora": Effect(
        default="off",
        memory="Adapter slots on every LoRA-wrapped module, per TP rank (max_loras x max_lora_rank x (in + out), "
               "planner/memory/lora.py), counted in the weights as vLLM's model load counts them: the KV cache "
               "shrinks by as much.",
        performance="Not modelled (LoRA kernels add time per step)."),
    "--max-loras": Effect(
        default="1",
        memory="The number of adapter slots on the GPU (see --enable-lora).",
        performance="Not modelled."),
    "--max-lora-rank": Effect(
        default="16",
        memory="The size of each adapter slot (see --enable-lora); a rank outside the release's set is refused.",
        performance="Not modelled."),
    "--max-cpu-loras": Effect(
        default="max_loras",
        memory="Host memory only: the CPU cache of adapters takes no GPU memory. Below --max-loras vLLM refuses "
               "to start.",
        performance="Not modelled."),
    "--lora-dtype": Effect(
        default="auto (the model's dtype)",
        memory="The element size of the adapter slots (see --enable-lora).",
        performance="Not modelled."),
    "--fully-sharded-loras": Effect(
        default="off",
        memory="Splits the column layers' lora_a rank and the row layers' lora_b output over the TP ranks "
               "(smaller slots per GPU).",
        performance="Not modelled."),
    "--limit-mm-per-prompt": Effect(
        default="999 per modality (V1)",
        memory="Sizes the dummy images of the profile run (planner/memory/multimodal.py): the encoder's peak, and its "
               "cached outputs beside the language model's, count in the activation. 0 for every modality is "
               "text-only mode: no encoder profile, and from 0.33 no vision tower at all.",
        performance="Not modelled."),
    "--mm-encoder-tp-mode": Effect(
        default="weights",
        memory="data: every TP rank holds the whole vision tower and encodes its share of the dummy images "
               "(models that support it: Qwen2.5-VL, Llama 4).",
        performance="Not modelled."),
    "--skip-mm-profiling": Effect(
        default="off",
        memory="Skips the encoder part of the profile run: its activation is not reserved.",
        performance="Not modelled."),
}


@dataclass(frozen=True)
class FlagDoc:
    name: str
    version: str
    info: FlagInfo | None
    status: str                      # flag_status: ok, removed, renamed, not_yet
    message: str                     # one sentence when the flag is not "ok" in `version`
    hint: str | None
    releases: tuple[str, ...]        # extracted releases that parse it
    effect: Effect | None

    @property
    def modelled(self) -> bool:
        return self.effect is not None and self.effect.modelled

    def default(self) -> str | None:
        if self.effect is None or self.effect.default is None:
            return None
        d = self.effect.default
        if callable(d):
            try:
                return d(self.version)
            except PlannerError:
                return None
        return d


def takes(info: FlagInfo) -> str:
    """What the flag takes, in words."""
    base = {
        "bool": "a switch", "store_boolean": "an optional true/false", "int": "an integer",
        "float": "a number", "str": "a string", "json": "JSON (or dotted keys, --flag.key value)",
        "json_or_str": "a string or JSON", "human_int": "an integer; 32k = 32,000, 32K = 32,768, 20G = 20 GiB",
        "human_int_or_auto": "an integer (32k = 32,000, 32K = 32,768), or auto / -1",
    }.get(info.value_type, info.value_type)
    if info.nargs == "+":
        base = "one or more values: " + base
    elif info.nargs == "?" and info.value_type not in ("store_boolean",):
        base += " (the value is optional)"
    return base


def short_type(info: FlagInfo) -> str:
    """What the flag takes, in a listing column."""
    if info.choices:
        text = ", ".join(info.choices)
        return text if len(text) <= 48 else f"one of {len(info.choices)}"
    return {"bool": "switch", "store_boolean": "[true|false]", "int": "N", "float": "NUM", "str": "TEXT",
            "json": "JSON", "json_or_str": "TEXT|JSON", "human_int": "N (32k, 32K)",
            "human_int_or_auto": "N|auto"}.get(info.value_type, info.value_type) + ("..." if info.nargs == "+"
                                                                                      else "")


def releases_text(releases: tuple[str, ...]) -> str:
    """'0.9.2 to 0.33.0 (8 of 10 extracted releases)', or the list when they are not one run."""
    every = snapshot_versions()
    if not releases:
        return "none of the extracted releases"
    idx = [every.index(r) for r in releases if r in every]
    n = f"{len(releases)} of {len(every)} extracted releases"
    if len(releases) == len(every):
        return f"every extracted release, {every[0]} to {every[-1]}"
    if idx == list(range(idx[0], idx[-1] + 1)):
        return f"{releases[0]} to {releases[-1]} ({n})" if len(releases) > 1 else f"{releases[0]} only ({n})"
    return ", ".join(releases) + f" ({n})"


def lookup(name: str, version: str = LATEST) -> FlagDoc:
    """The doc of one flag (any spelling: `max-model-len`, `--max_model_len`, `-tp`, `tp`, a unique prefix)
    as release `version` has it; a flag of another release is described with what `version` says of it
    (removed, renamed, not yet). A flag no release ever had is bad input, with a did-you-mean."""
    parse_version(version)
    word = name.strip()
    if word.startswith("-"):
        spellings = [word]
    else:     # `tp` is -tp, `max-model-len` is --max-model-len
        spellings = ["-" + word, "--" + word] if len(word) <= 3 else ["--" + word, "-" + word]
    ambiguous: PlannerError | None = None
    for spelling in spellings:
        try:
            status = flag_status(spelling, version)
        except PlannerError as err:      # an ambiguous prefix: another spelling may still be exact
            ambiguous = ambiguous or err
            continue
        info = status.info if status.info is not None else flag_info(spelling, version)
        if status == "unknown" or info is None:
            continue
        if not word.startswith("-") and not spelling.startswith("--") and spelling not in info.spellings:
            continue       # `nosuch` is not `-n osuch` (argparse's glued value): a bare word names a flag
        return FlagDoc(name=info.name, version=version, info=info, status=str(status),
                       message="" if status == "ok" else status.message, hint=status.hint,
                       releases=releases_with(info.name), effect=EFFECTS.get(info.name))
    if ambiguous is not None:
        raise ambiguous
    shown = normalize_spelling(spellings[-1] if len(spellings) > 1 and len(word) <= 3 else spellings[0])
    names = sorted({f.name for v in snapshot_versions() for f in flags_of(v)})
    raise PlannerError(f"{shown}: no vLLM release has a `vllm serve` flag of that name", code="unknown_flag",
                       hint=did_you_mean(shown, names) or "planner flags lists them")


def listing(version: str = LATEST) -> list[FlagDoc]:
    """Every flag of `version`, sorted by name."""
    return [FlagDoc(name=f.name, version=version, info=f, status="ok", message="", hint=None,
                    releases=releases_with(f.name), effect=EFFECTS.get(f.name)) for f in flags_of(version)]


def group_listing(word: str, version: str = LATEST) -> tuple[str, list[FlagDoc]]:
    """(the group's title, its flags) for `planner flags --group WORD` / `--help=WORD`, WORD matched as vLLM
    matches a `--help=` group title (any case). A group the release does not have is bad input: one line,
    with a did-you-mean, or the releases that have groups when this one has none."""
    parse_version(version)
    title = resolve_group(word, version)
    if title is not None:
        return title, [d for d in listing(version) if d.info is not None and d.info.group == title]
    groups = groups_of(version)
    if not groups:
        first = next((v for v in snapshot_versions() if groups_of(v)), None)
        raise PlannerError(f"{word.strip()}: vLLM {version} registers no flag groups", code="unknown_group",
                           hint=f"groups are in the extracted releases from {first} on" if first else None)
    raise PlannerError(f"{word.strip()}: vLLM {version} has no flag group of that name", code="unknown_group",
                       hint=did_you_mean(word.strip(), groups) or "planner flags --groups lists them")


def group_counts(version: str = LATEST) -> list[tuple[str, int]]:
    """(group, number of flags) for every argument group of `version`."""
    docs = listing(version)
    return [(g, sum(1 for d in docs if d.info is not None and d.info.group == g)) for g in groups_of(version)]


def effect_text(doc: FlagDoc) -> tuple[str, str]:
    """(memory, performance) lines: the planner's model, or that it is not modelled."""
    if doc.effect is None:
        return NOT_MODELLED, NOT_MODELLED
    return doc.effect.memory, doc.effect.performance
