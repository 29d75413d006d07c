"""planner.release.serve_args: pasted `vllm serve` command lines parse as vLLM's parser parses them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import find_launcher, parse_serve_argv, split_command, to_serve_argv


def test_full_command_line() -> None:
    cmd = parse_serve_argv(
        "vllm serve meta-llama/Llama-3.1-70B-Instruct -tp 4 --pipeline-parallel-size=2 "
        "--max-model-len 32K --gpu-memory-utilization 0.9 --max-num-seqs 128 --kv-cache-dtype fp8 "
        "--enforce-eager --no-enable-prefix-caching --port 8080"
    )
    assert cmd.model == "meta-llama/Llama-3.1-70B-Instruct"
    assert cmd.launcher == "vllm serve"
    a = cmd.args
    assert (a.tensor_parallel_size, a.pipeline_parallel_size) == (4, 2)
    assert a.max_model_len == 32768          # upper case K is binary
    assert a.gpu_memory_utilization == 0.9 and a.max_num_seqs == 128
    assert a.kv_cache_dtype == "fp8" and a.enforce_eager and a.enable_prefix_caching is False
    assert a.passthrough == (("--port", "8080"),)
    assert cmd.unknown == [] and cmd.removed == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("32k", 32000), ("32K", 32768), ("1.5k", 1500), ("auto", -1), ("-1", -1), ("8192", 8192)],
)
def test_max_model_len_human_numbers(text: str, expected: int) -> None:
    assert parse_serve_argv(["vllm", "serve", "m", "--max-model-len", text]).args.max_model_len == expected


def test_kv_cache_memory_prefix_and_binary_suffix() -> None:
    """`--kv-cache-memory=20G` is what vLLM's own log suggests; argparse accepts the prefix."""
    cmd = parse_serve_argv("vllm serve m --kv-cache-memory=20G --max-num-batched-tokens 96M")
    assert cmd.args.kv_cache_memory_bytes == 20 * 2**30
    assert cmd.args.max_num_batched_tokens == 96 * 2**20
    assert cmd.flags[0].spelling == "--kv-cache-memory-bytes"


def test_underscores_equals_and_short_aliases() -> None:
    a = parse_serve_argv("vllm serve m --tensor_parallel_size=2 -pp 2 -dp 2 -ep -qfp8").args
    assert (a.tensor_parallel_size, a.pipeline_parallel_size, a.data_parallel_size) == (2, 2, 2)
    assert a.enable_expert_parallel and a.quantization == "fp8"


def test_enable_disable_pairs() -> None:
    assert parse_serve_argv("vllm serve m --disable-prefix-caching").args.enable_prefix_caching is False
    assert parse_serve_argv("vllm serve m --enable-prefix-caching").args.enable_prefix_caching is True
    assert parse_serve_argv("vllm serve m --no-async-scheduling").args.async_scheduling is False
    a = parse_serve_argv("vllm serve m --enable-hybrid-kv-cache-manager").args
    assert a.disable_hybrid_kv_cache_manager is False
    # last one wins, as in argparse
    assert parse_serve_argv("vllm serve m --enable-prefix-caching --no-enable-prefix-caching").args \
        .enable_prefix_caching is False


def test_optimization_level_and_dotted_json() -> None:
    for form in ("-O3", "-O 3", "-O=3", "--optimization-level 3"):
        cmd = parse_serve_argv(f"vllm serve m {form}")
        assert cmd.args.passthrough == (("--optimization-level", "3"),), form
    cmd = parse_serve_argv(["vllm", "serve", "m", "--compilation-config.cudagraph_mode", "FULL",
                            "-cc", '{"mode": 3}'])
    assert ("--compilation-config.cudagraph_mode", "FULL") in cmd.args.passthrough
    assert ("--compilation-config", '{"mode": 3}') in cmd.args.passthrough


def test_model_flag_and_python_launchers() -> None:
    cmd = parse_serve_argv("python3 -m vllm.entrypoints.openai.api_server --model Qwen/Qwen3-8B -tp 2")
    assert cmd.model == "Qwen/Qwen3-8B" and cmd.launcher == "python -m vllm.entrypoints.openai.api_server"
    assert cmd.args.tensor_parallel_size == 2
    assert cmd.model_index == 4
    cmd = parse_serve_argv("python -u -m vllm.entrypoints.api_server --model x")
    assert cmd.launcher == "python -m vllm.entrypoints.api_server" and cmd.model == "x"


def test_api_server_positional_model_by_release() -> None:
    """make_arg_parser registered `model_tag` only from 0.10 (read from the wheels): before, the
    api_server module rejects a positional model, while `vllm serve MODEL` always took one."""
    old = parse_serve_argv("python -m vllm.entrypoints.openai.api_server org/m", version="0.9.2")
    assert old.model is None and old.unknown == ["org/m"]
    assert parse_serve_argv("vllm serve org/m", version="0.9.2").model == "org/m"
    assert parse_serve_argv("python -m vllm.entrypoints.openai.api_server org/m", version="0.10.1.1").model == "org/m"


def test_env_words_and_continuations() -> None:
    cmd = parse_serve_argv(
        "VLLM_USE_V1=1 HF_HOME=/data \\\n  vllm serve org/m \\\n  --max-model-len 8192 \\\n  -tp 2\n"
    )
    assert cmd.env == {"VLLM_USE_V1": "1", "HF_HOME": "/data"}
    assert cmd.model == "org/m" and cmd.args.tensor_parallel_size == 2
    cmd = parse_serve_argv("exec env A=1 /usr/local/bin/vllm serve m")
    assert cmd.env == {"A": "1"} and cmd.model == "m"


def test_bare_args_are_serve_args() -> None:
    """A vllm/vllm-openai container without `command`: args go to the image's entrypoint."""
    cmd = parse_serve_argv(["--model", "m", "--max-model-len", "4096"])
    assert cmd.launcher == "none" and cmd.model == "m" and cmd.args.max_model_len == 4096


def test_not_vllm() -> None:
    assert find_launcher(["bash", "-c", "echo"]) is None
    with pytest.raises(PlannerError, match="not a vLLM"):
        parse_serve_argv("python app.py --port 8000")


def test_unknown_and_removed_are_reported_not_raised() -> None:
    cmd = parse_serve_argv("vllm serve m --swap-space 16 --gpu-memory-utilisation 0.9 --task generate -tp 2")
    assert cmd.removed == [("--swap-space", None), ("--task", "--runner/--convert")]
    assert cmd.unknown == ["--gpu-memory-utilisation"]
    assert cmd.args.tensor_parallel_size == 2     # values of removed flags are not taken as the model
    assert cmd.model == "m"
    by_flag = {f.written: f for f in cmd.flags}
    assert by_flag["--swap-space"].status == "removed" and by_flag["--swap-space"].index == 3
    assert by_flag["-tp"].index == 9


def test_version_changes_what_is_known() -> None:
    old = parse_serve_argv("vllm serve m --swap-space 16 --num-scheduler-steps 8", version="0.9.2")
    assert old.removed == [] and old.unknown == []
    newer = parse_serve_argv("vllm serve m --swap-space 16 --num-scheduler-steps 8", version="0.19.0")
    assert newer.removed == [("--swap-space", None), ("--num-scheduler-steps", None)]
    assert ("--swap-space", "16") in parse_serve_argv("vllm serve m --swap-space 16", version="0.10.1.1") \
        .args.passthrough


@pytest.mark.parametrize(
    ("cmd", "match"),
    [
        ("vllm serve m --gpu-memory-utilization 1.5", "utilization"),
        ("vllm serve m --gpu-memory-utilization high", "invalid value"),
        ("vllm serve m -tp two", "invalid value"),
        ("vllm serve m -tp 0", "positive"),
        ("vllm serve m --max-model-len 1.5K", "binary suffixes"),
        ("vllm serve m --dtype fp4", "invalid choice"),
        ("vllm serve m --performance-mode fast", "invalid choice"),
        ("vllm serve m --enforce-eager=true", "explicit argument"),
        ("vllm serve m --max-model-len", "expected one argument"),
        ("vllm serve m --served-model-name", "at least one"),
        ("vllm serve m --port http", "invalid value"),
        ("vllm serve m --speculative-config {bad", "JSON"),
        ("vllm serve m --max-num 8", "ambiguous"),
        ("vllm serve m --served-model-name 'unterminated", "cannot split"),
    ],
)
def test_values_vllm_rejects(cmd: str, match: str) -> None:
    with pytest.raises(PlannerError, match=match):
        parse_serve_argv(cmd)


def test_split_command_keeps_quotes() -> None:
    assert split_command("vllm serve m --hf-overrides '{\"a\": 1}'")[-1] == '{"a": 1}'


def test_to_serve_argv_spellings() -> None:
    args = EngineArgs(tensor_parallel_size=2, gpu_memory_utilization=0.9, max_model_len=-1, max_num_seqs=64,
                      enable_prefix_caching=False, kv_cache_memory_bytes=20 * 2**30,
                      passthrough=(("--port", "8001"), ("--served-model-name", "a b")))
    argv = to_serve_argv("org/m", args)
    assert argv[:3] == ["vllm", "serve", "org/m"]
    text = " ".join(argv)
    assert "--tensor-parallel-size 2" in text and "--max-model-len auto" in text
    assert "--no-enable-prefix-caching" in argv and "--kv-cache-memory-bytes 20G" in text
    assert argv[-3:] == ["--served-model-name", "a", "b"]


def test_to_serve_argv_requires_resolved_explicit_fields() -> None:
    with pytest.raises(PlannerError, match="resolved"):
        to_serve_argv("m", EngineArgs())


def test_to_serve_argv_refuses_flags_the_version_lacks() -> None:
    with pytest.raises(PlannerError, match=r"not a vLLM 0\.33\.0"):
        to_serve_argv("m", EngineArgs(passthrough=(("--swap-space", "4"),)), explicit=())
    assert to_serve_argv("m", EngineArgs(passthrough=(("--swap-space", "4"),)), "0.10.1.1", explicit=()) == [
        "vllm", "serve", "m", "--swap-space", "4"]


# ---- properties -----------------------------------------------------------------------------------

_OPTIONS: list[list[str]] = [
    ["-tp", "2"], ["--pipeline-parallel-size", "2"], ["--gpu-memory-utilization", "0.85"],
    ["--max-model-len", "16k"], ["--max-num-seqs", "64"], ["--max-num-batched-tokens", "8192"],
    ["--kv-cache-dtype", "fp8"], ["--dtype", "bfloat16"], ["--enforce-eager"], ["--block-size", "32"],
    ["--no-enable-prefix-caching"], ["--enable-expert-parallel"], ["--performance-mode", "throughput"],
    ["--port", "8001"], ["--served-model-name", "x"], ["--trust-remote-code"], ["-q", "awq"],
]


@settings(max_examples=150, deadline=None)
@given(st.permutations(_OPTIONS), st.integers(min_value=0, max_value=len(_OPTIONS)))
def test_flag_order_does_not_matter(options: list[list[str]], cut: int) -> None:
    """Random orders of the same flags give identical EngineArgs (passthrough compared as a set)."""
    chosen = options[:cut]
    base = parse_serve_argv(["vllm", "serve", "m", *[w for o in sorted(chosen) for w in o]])
    shuffled = parse_serve_argv(["vllm", "serve", "m", *[w for o in chosen for w in o]])
    assert base.args.with_(passthrough=()) == shuffled.args.with_(passthrough=())
    assert set(base.args.passthrough) == set(shuffled.args.passthrough)


@settings(max_examples=150, deadline=None)
@given(st.permutations(_OPTIONS), st.integers(min_value=0, max_value=len(_OPTIONS)))
def test_round_trip(options: list[list[str]], cut: int) -> None:
    """parse(to_serve_argv(x)) == x."""
    cmd = parse_serve_argv(["vllm", "serve", "org/m", *[w for o in options[:cut] for w in o]])
    again = parse_serve_argv(to_serve_argv("org/m", cmd.args, explicit=()))
    assert again.args == cmd.args and again.model == "org/m"


_WORDS = st.one_of(
    st.sampled_from(["vllm", "serve", "-tp", "--max-model-len", "32K", "-O", "-O3", "--", "-", "=",
                     "--kv-cache-memory=", "--enable-prefix-caching=1", "auto", "-1", "1e999", "{", "}",
                     "--compilation-config.mode", "--served-model-name", "'", '"', "\\", "--max-num",
                     "python3", "-m", "vllm.entrypoints.openai.api_server", "A=1", "--gpu-memory-utilization",
                     "nan", "inf", "9" * 400, "--hf-token", "-qfp8", "--model"]),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_WORDS, max_size=12), st.sampled_from(["0.33.0", "0.32.0", "0.10.1.1"]))
def test_garbage_argv_raises_only_planner_error(words: list[str], version: str) -> None:
    try:
        parse_serve_argv(words, version=version)
    except PlannerError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_garbage_string_raises_only_planner_error(text: str) -> None:
    try:
        parse_serve_argv(text)
    except PlannerError:
        pass
