"""The generated input classes of issue 11, in one place: the tests (tests/test_fuzz_*.py,
tests/test_check_kinds.py, tests/test_pasted_commands.py) assert on them, and tools/contract_run.py runs
all of them through the CLI and counts. Deterministic: no randomness without a fixed seed.

- flags: every `vllm serve` option of every release in the flag table (and releases between them),
  with values picked from its own type and choices: plausible, edge and wrong;
- configs: every field of every reference config (tests/data/validation and the bundled catalog)
  set to each kind of bad value;
- check: every file kind `planner check` reads (the kinds table), each good file cut short and with
  hostile text put in, and hostile files (alias bombs, deep nesting, undecodable bytes, size limits);
- pasted commands: `vllm serve` as shells run it (paths, prefixes, one quoted string);
- secrets: tokens and API keys in every place a command line carries them.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from planner.cli import app_for
from planner.release.vllm_flags import FlagInfo, flags_of, snapshot_versions

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CONFIGS = DATA / "validation" / "model-configs"
KINDS = DATA / "check" / "kinds"

# ---- flags x releases ------------------------------------------------------------------------------

FLAG_MODEL = "llama-3.1-8b"       # the bundled catalog: offline, no network

SAMPLES: dict[str, tuple[str, ...]] = {
    "int": ("1", "16", "0", "-1", "99999999999999999999", "1.5", "abc"),
    "float": ("0.5", "0", "1e308", "nan", "-inf", "x"),
    "human_int": ("4096", "32k", "32K", "1.5K", "0", "1" * 40, "x"),
    "human_int_or_auto": ("auto", "-1", "8192", "32K", "0", "x"),
    "json": ("{}", '{"a": 1}', '{"mode": 3}', "[]", "{bad", "1e999"),
    "json_or_str": ("{}", '{"a": 1}', "x", "{bad"),
    "str": ("x", "", "auto", "1" * 5000),
    "store_boolean": ("true", "FALSE", "maybe"),
}


def flag_releases() -> tuple[str, ...]:
    """Every extracted release, and releases between them (answered from their neighbours: a code path)."""
    return (*snapshot_versions(), "0.7.3", "0.12.0", "0.30.0")


def flag_samples(info: FlagInfo) -> list[list[str]]:
    """Argument words for one flag: its forms (bare, negative, `=value`) and typed values."""
    if info.is_boolean:
        forms = [[info.name], [f"{info.name}=x"]]
        forms += [[neg] for neg in info.negatives[:2]]
        return forms
    values = list(SAMPLES[info.value_type])
    if info.choices:
        values = [*info.choices, "bogus", *values[-1:]]
    if info.nargs == "+":
        forms = [[info.name, values[0], values[0]], [info.name]]
    else:
        forms = [[info.name]]                      # missing (or optional) value
    forms += [[info.name, v] for v in values] + [[f"{info.name}={values[0]}"]]
    return forms


def flag_cases() -> list[tuple[str, list[str]]]:
    """(release, words) for every flag of every release with every sample value."""
    return [(v, words) for v in flag_releases() for info in flags_of(v) for words in flag_samples(info)]


# ---- config mutations ------------------------------------------------------------------------------

def reference_configs() -> dict[str, dict[str, Any]]:
    """The real configs of tests/data/validation (no quant side-cars) and of the bundled catalog."""
    out = {p.stem: json.loads(p.read_text()) for p in sorted(CONFIGS.glob("*.json"))
           if not p.stem.endswith("hf_quant_config")}
    for p in sorted((ROOT / "model_catalog" / "data").glob("*.json")):
        out["catalog:" + p.stem] = json.loads(p.read_text())["config"]
    return out


def field_paths(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key, nested objects included (text_config, vision_config, rope_scaling, quantization_config)."""
    out: list[tuple[str, ...]] = []
    for key, value in node.items():
        out.append((*prefix, key))
        if isinstance(value, dict) and len(prefix) < 3:
            out.extend(field_paths(value, (*prefix, key)))
    return out


def bad_values(original: Any) -> dict[str, Any]:
    """Each kind of bad value for a field that held `original`."""
    num = original if isinstance(original, int | float) and not isinstance(original, bool) else 8
    return {"string number": str(num), "negative": -abs(num) or -1, "zero": 0, "nan": math.nan,
            "inf": math.inf, "huge int": int("9" * 4000), "list": [original], "dict": {"value": original},
            "null": None, "bool": True}


def mutate(cfg: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `cfg` with the field at `path` set to `value`."""
    out: dict[str, Any] = json.loads(json.dumps(cfg))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def config_mutations() -> Iterator[tuple[str, tuple[str, ...], str, dict[str, Any]]]:
    """(reference, field path, kind of bad value, mutated config) for every field of every reference."""
    for ref, base in reference_configs().items():
        for path in field_paths(base):
            node: Any = base
            for key in path:
                node = node[key]
            for kind, value in bad_values(node).items():
                yield ref, path, kind, mutate(base, path, value)


# ---- check: every file kind, broken and hostile -----------------------------------------------------

def kinds_table() -> list[tuple[str, str, str]]:
    """(path under KINDS, expected exit when named, rule or reason) from tests/data/check/kinds/expected.tsv."""
    rows = [line.split("\t") for line in (KINDS / "expected.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    return [(r[0], r[1], r[2]) for r in rows]


def good_kind_files() -> list[Path]:
    return sorted(KINDS / row[0] for row in kinds_table() if row[1] == "0")


HOSTILE_TEXT = ["\0", "\udcff", "&a [*a, *a]", "!!int ", "!!float ", "!!timestamp ", "!!binary ", "{{ .Values.x }}",
                "[" * 300, "'", '"', "\\", "$(", "`", "---\n", "\t", "%YAML 1.1\n", "<<: *nope\n", "? ", "\r"]
CUTS = tuple(i / 20 for i in range(20))          # each good file cut at 0 %, 5 %, ... 95 %
AT = (0.0, 0.25, 0.5, 0.75, 1.0)                 # where hostile text goes in


def broken_kind_texts() -> Iterator[tuple[str, str, str]]:
    """(file name, what was done, text): every good kind file cut short at each point, and with each
    hostile text inserted or overwritten at each place."""
    for f in good_kind_files():
        text = f.read_text()
        for cut in CUTS:
            yield f.name, f"{f.parent.name}/{f.name} cut at {cut:.0%}", text[: int(len(text) * cut)]
        for at in AT:
            i = int(len(text) * at)
            for junk in HOSTILE_TEXT:
                for replace in (False, True):
                    how = "overwritten" if replace else "inserted"
                    yield (f.name, f"{f.parent.name}/{f.name} {junk!r} {how} at {at:.0%}",
                           text[:i] + junk + text[i + (len(junk) if replace else 0):])


def billion_laughs(levels: int = 12) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nkind: Pod\nspec:\n  containers:\n    - name: vllm\n      command: [vllm, serve]\n" \
                              f"      args: *a{levels - 1}\n"


def big_manifest_stream(target_bytes: int) -> str:
    doc = ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: vllm-settings}\n"
           "data: {a: vllm, b: '1', c: [1, 2, 3, 4, 5]}\n")
    return doc * (target_bytes // len(doc))


def hostile_files() -> dict[str, bytes]:
    """Files that attack a YAML/text reader: expansion, depth, encodings, size and node limits."""
    return {
        "billion-laughs.yaml": billion_laughs().encode(),
        "merge-bomb.yaml": ("base: &b {" + ", ".join(f"k{i}: {i}" for i in range(50)) + "}\n"
                            + "".join(f"m{i}: &m{i} {{<<: [*b{', *m' + str(i - 1) if i else ''}]}}\n"
                                      for i in range(200))
                            + "kind: Pod\nspec: {containers: [{command: [vllm, serve, m]}]}\n").encode(),
        "deep-flow.yaml": ("kind: Pod\nx: " + "[" * 20_000 + "]" * 20_000 + "\n# vllm\n").encode(),
        "deep-block.yaml": ("kind: Pod\n" + "".join("  " * i + f"k{i}:\n" for i in range(2000))
                            + "  " * 2000 + "v: vllm\n").encode(),
        "non-utf8.yaml": b"kind: Pod\nspec: {containers: [{command: [vllm, serve, \xff\xfe]}]}\n",
        "utf16.yaml": "kind: Pod\nspec: {containers: [{command: [vllm, serve, m]}]}\n".encode("utf-16"),
        "nul.yaml": b"kind: Pod\n\x00vllm serve m\n",
        "python-tag.yaml": b"kind: Pod\nspec: !!python/object/apply:os.getcwd []\n# vllm serve\n",
        "huge-int.yaml": b"kind: Pod\nspec: {containers: [{command: [vllm, serve, m, -tp, " + b"9" * 5000 + b"]}]}\n",
        "tabs.yaml": b"kind: Pod\n\tspec: vllm\n",
        "over-limit.yaml": big_manifest_stream(9 * 2**20).encode(),
        "many-nodes.yaml": big_manifest_stream(7 * 2**20).encode(),   # under the byte limit, over the node limit
    }


# ---- pasted commands ---------------------------------------------------------------------------------

# What a shell would run, for a model `m` at TP 2: paths, prefixes, python -m, one quoted string.
PASTED_FORMS: list[list[str]] = [
    ["/usr/local/bin/vllm", "serve", "m", "-tp", "2"],
    ["nohup", "vllm", "serve", "m", "-tp", "2"],
    ["exec", "vllm", "serve", "m", "-tp", "2"],
    ["time", "-p", "vllm", "serve", "m", "-tp", "2"],
    ["env", "VLLM_USE_V1=1", "vllm", "serve", "m", "-tp", "2"],
    ["env", "-u", "CUDA_VISIBLE_DEVICES", "vllm", "serve", "m", "-tp", "2"],
    ["sudo", "-E", "-u", "svc", "vllm", "serve", "m", "-tp", "2"],
    ["CUDA_VISIBLE_DEVICES=0,1", "nice", "-n", "5", "vllm", "serve", "m", "-tp", "2"],
    ["python3.11", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "-tp", "2"],
    ["/opt/venv/bin/python3", "-u", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "-tp", "2"],
    ["vllm serve m -tp 2"],                                         # the whole command as one string
    ["nohup vllm serve m -tp 2 > vllm.log 2>&1 &"],
    ["sudo -E env HF_HOME=/data vllm serve m \\\n  -tp 2 | tee log"],
]
PASTED_MODELS = ("llama-3.1-8b", "qwen3-8b", "meta-llama/Llama-3.1-8B-Instruct")


def pasted_commands() -> list[list[str]]:
    """Every pasted form for several catalog models (the model in place of `m`)."""
    out = []
    for model in PASTED_MODELS:
        for form in PASTED_FORMS:
            out.append([w.replace(" m ", f" {model} ") if " " in w else (model if w == "m" else w) for w in form])
    return out


# ---- secrets -----------------------------------------------------------------------------------------

def secrets(n: int) -> list[str]:
    """n secret-looking strings (fixed seed: the same strings every run)."""
    rng = random.Random(11)
    shapes = ["hf_{}", "sk-{}", "{}", "tok-{}-x"]
    return [shapes[i % len(shapes)].format("".join(rng.choices(string.ascii_letters + string.digits, k=24)))
            for i in range(n)]


def secret_forms(secret: str, out: Path) -> list[list[str]]:
    """planner command lines that carry `secret` in every place a token or key goes."""
    return [
        ["estimate", "--gpu", "H100", "--offline", "--", "env", f"HF_TOKEN={secret}", "vllm", "serve", "llama-3.1-8b"],
        ["estimate", "--gpu", "H100", "--offline", "--", f"HF_TOKEN={secret}", "vllm", "serve", "nope/none"],
        ["estimate", "--gpu", "H100", "--offline", "--", f"MY_API_KEY={secret} sudo vllm serve llama-3.1-8b --bogus"],
        ["estimate", "--gpu", "H100", "--offline", "--json", "--", "vllm", "serve", "llama-3.1-8b",
         "--api-key", secret],
        ["estimate", "--gpu", "H100", "--offline", "--", "vllm", "serve", "llama-3.1-8b", "--api-key", secret,
         "--max-model-len", "x"],
        ["estimate", "nope/none", "--gpu", "H100", "--offline", "--hf-token", secret],
        ["plan", "llama-3.1-8b", "--gpu", "H100", "--offline", "--api-key", secret],
        ["plan", "llama-3.1-8b", "--gpu", "H100", "--offline", "--api-key", secret, "--json"],
        *(["plan", "llama-3.1-8b", "--gpu", "H100", "--offline", "--api-key", secret, "--emit", e]
          for e in ("vllm", "docker", "compose", "k8s")),
        ["plan", "llama-3.1-8b", "--gpu", "H100", "--offline", "--api-key", secret, "--emit", "all",
         "--out", str(out)],
        ["plan", "--gpu", "H100", "--offline", "--", "env", f"HF_TOKEN={secret}", "vllm", "serve", "llama-3.1-8b",
         "--hf-token", secret, "--emit", "k8s"],
    ]


# ---- the planner's own options: perf (workload) and cost ---------------------------------------------

# Values every option of the planner's own is tried with (as a word on the command line): plausible, edge
# (0, negative, 10**30, 1e308, nan, inf, empty) and wrong (non-numeric, very long).
OWN_SAMPLES: tuple[str, ...] = ("1", "2", "16", "0", "-1", "0.5", "1.5", "1e308", "-1e308", "1e-308", "nan", "inf",
                                "-inf", str(10**30), "9" * 5000, "", " ", "x", "1k", "2M", "1,2", "x" * 5000)
# Values that only mean something to one option (its plausible words, and its own kinds of wrong).
OWN_PLAUSIBLE: dict[str, tuple[str, ...]] = {
    "--gpu": ("H100", "A100-40GB", "L4", "H100-SXM-80GB-MIG-1g.10gb", "cpu"),
    "--device": ("cuda", "cpu", "tpu"),
    "--quant": ("fp8", "awq", "int4", "nvfp4", "bogus"),
    "--vllm-version": ("0.6.6.post1", "0.8.5.post1", "0.10.1.1", "0.33.0", "99.0.0", "v0.11.0"),
    "--vllm-engine": ("v0", "v1", "V1", "v2"),
    "--revision": ("main", "a" * 40),
    "--dataset-name": ("random", "sharegpt", "prefix_repetition", "sonnet", "hf", "RANDOM"),
    "--random-range-ratio": ("0.25", "0.99", "0.999999"),
    "--request-rate": ("4", "1e6", "1e7", "0.001"),
    "--burstiness": ("0.01", "0.001", "1000", "1001"),
    "--max-concurrency": ("4", "100000", "100001"),
    "--seed": ("42", str(2**32 - 1), str(2**32)),
    "--num-prompts": ("100", "10000", "10001"),
    "--sweep": ("max-concurrency=1,2,4", "request-rate=1,inf", "request-rate=0.5,2", "max_concurrency=1,2",
                "--max-concurrency=1,2", "max-concurrency=1,1", "max-concurrency=", "max-concurrency=1,,2",
                "max-concurrency=" + ",".join(str(i) for i in range(1, 34)), "request-rate=nan,1",
                "request-rate=0,1", "bogus=1", "max-concurrency", "=1,2"),
    "--requests-per-month": ("1m", "500k", "2M", "1000000", str(10**15), str(10**15 + 1), "1e6", "0.5"),
    "--input-len": ("700", str(1 << 20), str((1 << 20) + 1)),
    "--output-len": ("100", str(1 << 20), str((1 << 20) + 1)),
    "--api": ("gpt-4o", "GPT-4o", "bogus-model"),
    "--api-provider": ("OpenAI", "openai", "bogus"),
    "--api-price": ("0.4,1.6", "$0.4,$1.6", "0,0", "0,1", "-1,2", "nan,1", "inf,1", "1e308,1e308", "1,2,3",
                    "1,", ",1"),
    "--gpu-price": ("2.5", "0.0001"),
    "--provider": ("RunPod", "runpod", "bogus"),
    "--price-kind": ("on-demand", "spot", "reserved", "bogus"),
    "--fixed-monthly": ("1000", "1e15"),
    "--hours-per-month": ("720", "744", "745", "0.001"),
    "--peak-to-average": ("1", "3", "0.999", "1e6"),
    "--slo-ttft-ms": ("500", "0.001", "1e9"),
    "--slo-tpot-ms": ("50", "0.001", "1e9"),
    "--slo-e2el-ms": ("5000", "0.001", "1e9"),
    "--slo-percentile": ("95", "99.9", "100", "100.1", "50"),
    "--num-gpus": ("1", "2", "8", "3", "4096"),
    "--max-gpus": ("1", "2", "8", "4096"),
    "--objective": ("gpus", "cost", "kv", "bogus"),
    "--context": ("8192", "32k", "32K", "128k", "1M", "auto"),
    "--concurrency": ("1", "64", "1024", "100000"),
    "--emit": ("vllm", "docker", "compose", "k8s", "all", "hpa", "alerts", "bogus"),
    "--fallback": ("gpt-4o-mini", "anthropic/claude-3-5-haiku", "bogus"),
    "--per-replica-rate": ("2", "2/s", "120/min", "7200/h", "0/min", "-1/s", "inf/s", "nan/min", "1e308/s",
                           "x/min", "2/fortnight", "/min"),
}
# Options every run of the command already gives itself (its machinery), not inputs to try.
_NOT_TRIED = ("--help", "-h", "--json", "--debug", "--offline")

# perf: the base command each option x value is appended to (a later option wins over the base's). Every
# base keeps a run cheap (8 to 10 prompts, short lengths): only the option under test makes it large.
_PERF_CHEAP = ["--num-prompts", "8", "--random-input-len", "64", "--random-output-len", "16"]
PERF_BASES: dict[str, list[str]] = {
    "random": _PERF_CHEAP,
    "random text": _PERF_CHEAP,        # "... text": without --json (the human report is rendered too)
    "prefix_repetition": ["--dataset-name", "prefix_repetition", "--num-prompts", "10",
                          "--prefix-repetition-prefix-len", "32", "--prefix-repetition-suffix-len", "32",
                          "--prefix-repetition-output-len", "16"],
    "sharegpt": ["--dataset-name", "sharegpt", "--num-prompts", "8"],
    "sweep": [*_PERF_CHEAP, "--sweep", "max-concurrency=1,2"],
    "offline-batch": [*_PERF_CHEAP, "--offline-batch"],
    "speculative": [*_PERF_CHEAP, "--speculative-config",
                    '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}'],
}
_COST_CHEAP = ["--requests-per-month", "1m", "--input-len", "700", "--output-len", "100"]
COST_BASES: dict[str, list[str]] = {
    "api-price": [*_COST_CHEAP, "--api-price", "0.4,1.6"],
    "api": [*_COST_CHEAP, "--api", "gpt-4o"],
    "api text": [*_COST_CHEAP, "--api", "gpt-4o"],
    "slo": [*_COST_CHEAP, "--api-price", "0.4,1.6", "--slo-ttft-ms", "2000", "--slo-tpot-ms", "100"],
}
# vLLM serve flags the perf model itself reads (speculative decoding, the scheduler's limits, prefix
# caching, parallelism), each with plausible and bad values, on perf's cheap base.
SPEC_CONFIGS: tuple[str, ...] = (
    '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": 0, "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": -1, "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": 1000000000000000000000000000000, "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": 1e308, "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": NaN, "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": "3", "prompt_lookup_max": 4}',
    '{"method": "ngram", "num_speculative_tokens": 64, "prompt_lookup_max": 4}',
    '{"method": "ngram"}', '{"method": "suffix", "num_speculative_tokens": 8}',
    '{"method": "eagle", "model": "yuhuili/EAGLE-LLaMA3.1-Instruct-8B", "num_speculative_tokens": 3}',
    '{"method": "eagle3", "model": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B", "num_speculative_tokens": 3}',
    '{"method": "mtp", "num_speculative_tokens": 1}', '{"method": "medusa", "model": "x/medusa", '
    '"num_speculative_tokens": 3}', '{"model": "meta-llama/Llama-3.2-1B-Instruct", "num_speculative_tokens": 5}',
    '{"method": "bogus", "num_speculative_tokens": 3}', '{"method": 3}', "{}", "[]", '"ngram"', "true", "{bad",
    "", "x" * 5000)
PERF_SERVE_FLAGS: tuple[list[str], ...] = (
    *(["--speculative-config", c] for c in SPEC_CONFIGS),
    *(["--max-num-seqs", v] for v in ("1", "4", "0", "-1", str(10**30))),
    *(["--max-num-batched-tokens", v] for v in ("16", "64", "1", "0", str(10**30))),
    *(["--max-model-len", v] for v in ("32", "80", "128", "1", "0", str(10**30))),
    ["--enable-prefix-caching"], ["--no-enable-prefix-caching"], ["--enable-chunked-prefill", "false"],
    *(["-tp", v] for v in ("2", "8", "3", "16")), ["-pp", "2"], ["-dp", "2"],
    *(["--kv-cache-dtype", v] for v in ("fp8", "fp8_e5m2", "bogus")),
    *(["--gpu-memory-utilization", v] for v in ("0.5", "0.05", "1.5", "nan")),
    *(["--performance-mode", v] for v in ("throughput", "interactivity", "bogus")),
)


PLAN_BASES: dict[str, list[str]] = {
    "catalog": [],
    "catalog text": [],
    "load": ["--request-rate", "2", "--random-input-len", "256", "--random-output-len", "64"],
    "emit all text": ["--emit", "all"],     # --out is the option's own (a fresh folder under tmp per base)
}
ESTIMATE_BASES: dict[str, list[str]] = {"catalog": [], "catalog text": []}
# Every command whose own options are an area, with the bases its inputs run on.
OWN_OPTION_BASES: dict[str, dict[str, list[str]]] = {
    "perf": PERF_BASES, "cost": COST_BASES, "plan": PLAN_BASES, "estimate": ESTIMATE_BASES}


def own_options(command: str) -> list[tuple[str, str, bool]]:
    """(flag, type name, is a bare flag) for every option of `planner COMMAND` the user gives, read from the
    typer command (its signature) so that an option added there is tried without a change here."""
    group = typer.main.get_command(app_for([command]))
    cmd: Any = getattr(group, "commands", {}).get(command, group)
    out = []
    for p in cmd.params:
        flag = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        if flag in _NOT_TRIED or not flag.startswith("-"):
            continue
        out.append((flag, str(p.bare_type()) if hasattr(p, "bare_type") else "str", bool(getattr(p, "is_flag", 0))))
    return out


def own_option_samples(flag: str, is_flag: bool, tmp: Path) -> list[list[str]]:
    """The words to try for one option: bare flags in their forms, value options with every sample value
    (a --plot path also as the file kinds a user would name)."""
    if is_flag:
        return [[flag], [f"{flag}=x"], [flag, "x"]]
    values = [*OWN_PLAUSIBLE.get(flag, ()), *OWN_SAMPLES]
    if flag == "--plot":
        values = [str(tmp / "plot.svg"), str(tmp / "plot.png"), str(tmp / "plot.txt"), str(tmp),
                  str(tmp / "missing" / "plot.svg"), str(tmp / ("a" * 300 + ".svg")), *OWN_SAMPLES]
    if flag == "--out":
        values = [str(tmp / "out"), str(tmp), str(tmp / "missing" / "deeper"), str(tmp / ("a" * 300)),
                  "/proc/version", *OWN_SAMPLES]
    return [[flag]] + [[flag, v] for v in values] + [[f"{flag}={values[0]}"]]


def own_option_cases(command: str, bases: dict[str, list[str]], tmp: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) for every option of `planner COMMAND` x sample value x base command."""
    out = []
    options = own_options(command)
    for base_name, base in bases.items():
        head = [command, FLAG_MODEL, "--gpu", "H100", "--offline", *([] if base_name.endswith(" text") else ["--json"])]
        for flag, _type, is_flag in options:
            for words in own_option_samples(flag, is_flag, tmp):
                out.append((f"{base_name}: {' '.join(words)[:80]}", [*head, *base, *words]))
    if command == "perf":
        head = [command, FLAG_MODEL, "--gpu", "H100", "--offline"]
        for words in PERF_SERVE_FLAGS:
            for base_name in ("random", "random text", "sweep"):
                json_word = [] if base_name.endswith(" text") else ["--json"]
                argv = [*head, *json_word, *PERF_BASES[base_name], *words]
                out.append((f"{base_name}: {' '.join(words)[:80]}", argv))
    return out
