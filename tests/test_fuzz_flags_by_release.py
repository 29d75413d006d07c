"""Every flag of every release in the flag table, with typed sample values, through `planner estimate`.

Issue 11: `--block-size 16` on 0.9.2 crashed (the table said `str`, the memory model computes with an
int), `--enable-chunked-prefill` on 0.6.6.post1 crashed (StoreBoolean's optional value), and the
choices of `--kv-cache-dtype` came from 0.33.0 whatever the release. This generates the class: for each
release (every extracted one, and releases between them), each option it accepts, values picked from
its own type and choices: plausible, edge and wrong. Each must end as exit 0/1 (a verdict) or exit 2
with one clean line; anything else (a TypeError, an AssertionError) fails the test. The command function
is called in-process (build_estimate, what `planner estimate` runs); a derandomized sample also goes
through the typer CLI to hold the printed contract. Deterministic: no randomness at all.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.commands.estimate import build_estimate
from planner.errors import PlannerError
from tools.generators import FLAG_MODEL, flag_cases, flag_releases

# The generated inputs (tools/generators.py, shared with tools/contract_run.py).
RELEASES = flag_releases()
MODEL = FLAG_MODEL
CASES = flag_cases()


def run_estimate(version: str, words: list[str]) -> int:
    """What `planner estimate MODEL --gpu H100 --vllm-version V WORDS` ends in, in-process."""
    try:
        est, _ = build_estimate(list(words), gpu="H100", device=None, gpu_memory_gib=None, quant=None,
                                vllm_version=version, vllm_engine=None, revision=None, offline=True,
                                progress=False, model=MODEL)
    except PlannerError as err:
        line = err.one_line()
        assert line and "\n" not in line and "internal error" not in line, (version, words, line)
        return 2
    out: dict[str, Any] = est.to_json()            # type: ignore[attr-defined]
    json.dumps(out, allow_nan=False)
    assert all(math.isfinite(x) for x in out["per_gpu"].values()), (version, words, out["per_gpu"])
    return 0 if out["fits"] else 1


def test_the_generated_inputs_cover_every_release_and_many_flags() -> None:
    assert len({v for v, _ in CASES}) == len(RELEASES)
    assert len(CASES) > 10_000, len(CASES)


@pytest.mark.parametrize("version", RELEASES)
def test_every_flag_with_typed_values(version: str) -> None:
    """One test per release: each flag x sample ends in a verdict or one clean error line."""
    held = 0
    for v, words in CASES:
        if v == version:
            assert run_estimate(v, words) in (0, 1, 2)
            held += 1
    assert held > 500


@pytest.mark.parametrize("version", ["0.7.3", "0.8.5.post1", "0.9.2", "0.10.1.1", "0.11.0", "0.14.0"])
@pytest.mark.parametrize("size", ["8", "16", "32"])
def test_valid_block_sizes_on_releases_with_int_literal_choices(version: str, size: str) -> None:
    """The issue's reproducer: every valid block size is a verdict (it was a TypeError)."""
    assert run_estimate(version, ["--block-size", size]) in (0, 1)


@pytest.mark.parametrize(("words", "code"), [
    (["--enable-chunked-prefill"], (0, 1)),
    (["--enable-chunked-prefill", "false"], (0, 1)),
    (["--enable-chunked-prefill", "TRUE"], (0, 1)),
    (["--enable-chunked-prefill", "maybe"], (2,)),
])
def test_store_boolean_on_0_6(words: list[str], code: tuple[int, ...]) -> None:
    assert run_estimate("0.6.6.post1", words) in code


def test_choices_come_from_the_target_release() -> None:
    """turboquant_k8v4 is a 0.28.0 choice (with a warning: its layout is not modelled); not 0.19.0's."""
    est, _ = build_estimate(["--kv-cache-dtype", "turboquant_k8v4"], gpu="H100", device=None,
                            gpu_memory_gib=None, quant=None, vllm_version="0.28.0", vllm_engine=None,
                            revision=None, offline=True, progress=False, model=MODEL)
    codes = [w["code"] for w in est.to_json()["warnings"]]  # type: ignore[attr-defined]
    assert "kv_cache_dtype_not_modelled" in codes
    assert run_estimate("0.19.0", ["--kv-cache-dtype", "turboquant_k8v4"]) == 2


RUNNER = CliRunner()
# Every 97th generated case through the real CLI (a fixed stride: deterministic, all releases).
CLI_SAMPLE = CASES[::97]


@pytest.mark.parametrize(("version", "words"), CLI_SAMPLE, ids=lambda x: x if isinstance(x, str) else None)
def test_cli_contract_on_a_sample(version: str, words: list[str]) -> None:
    res = RUNNER.invoke(app, ["estimate", MODEL, "--gpu", "H100", "--offline", "--json",
                              "--vllm-version", version, *words])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 1, 2), res.output
    assert "Traceback" not in res.output
    if res.exit_code == 2:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("planner: error: "), res.stderr
        assert "internal error" not in lines[0]
