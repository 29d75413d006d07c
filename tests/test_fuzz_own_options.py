"""Every option of the planner's own commands (perf's workload, cost's prices and load, plan's, estimate's), with
typed sample values, through the CLI: the generated class of tools/generators.py (own_option_cases), sampled.

Issue 11: each input ends as exit 0/1 or exit 2 with one `planner: error: ` line, never an internal error or a
traceback, under 5 s, and a verdict under --json is strict JSON. The full class is what
`python -m tools.contract_run --area perf --area cost --area plan --area estimate` counts; this test runs a
fixed stride of it (deterministic: no randomness), plus the inputs that broke the contract when the area was
added (an OverflowError for a 1e308 price, a speculative decoding loop over range(10**30), a stalled
simulation at 1e-308 req/s, predict's ValueError as an internal error, an over-long --plot name).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import contract_run as cr
from tools import generators as gen

# Inputs per command in the default suite (the stride keeps every option and base in the sample's reach).
SAMPLE = {"perf": 160, "cost": 40, "plan": 30, "estimate": 40}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative --out and --plot values land in the test's own folder (as contract_run runs in a temp one)."""
    monkeypatch.chdir(tmp_path)


def _hold(argv: list[str]) -> None:
    case = cr.Case(argv, json_stdout="--json" in argv)
    run = cr.invoke(argv)
    why = cr.verdict(case, *run)
    assert why is None, (why, argv[:12], run[2][-300:] or run[1][-300:])


def test_the_options_come_from_the_command_signatures() -> None:
    """A new option of perf or cost is tried without a change to the generator."""
    perf = {flag for flag, _, _ in gen.own_options("perf")}
    cost = {flag for flag, _, _ in gen.own_options("cost")}
    assert {"--random-prefix-len", "--prefix-repetition-num-prefixes", "--sweep", "--request-rate",
            "--burstiness", "--max-concurrency", "--num-prompts", "--offline-batch", "--plot"} <= perf
    assert {"--requests-per-month", "--api-price", "--gpu-price", "--hours-per-month", "--peak-to-average",
            "--per-replica-rate", "--slo-percentile"} <= cost
    assert "--json" not in perf and "--help" not in cost


def test_every_option_is_tried_on_every_base(tmp_path: Path) -> None:
    for command, bases in gen.OWN_OPTION_BASES.items():
        cases = gen.own_option_cases(command, bases, tmp_path)
        for flag, _, _ in gen.own_options(command):
            for base in bases:
                assert any(label.startswith(f"{base}: {flag}") for label, _ in cases), (command, base, flag)
    perf = gen.own_option_cases("perf", gen.PERF_BASES, tmp_path)
    # the base keeps a run cheap; only the option under test makes it big
    assert any(argv[-2:] == ["--num-prompts", str(10**30)] for _, argv in perf)
    assert all("8" in argv or "10" in argv for _, argv in perf)


@pytest.mark.parametrize("command", list(SAMPLE))
def test_a_stride_of_the_generated_class_holds(command: str, tmp_path: Path) -> None:
    cases = gen.own_option_cases(command, gen.OWN_OPTION_BASES[command], tmp_path)
    step = max(1, len(cases) // SAMPLE[command])
    for _, argv in cases[::step]:
        _hold(argv)


PERF = ["perf", gen.FLAG_MODEL, "--gpu", "H100", "--offline", "--json", *gen.PERF_BASES["random"]]
COST = ["cost", gen.FLAG_MODEL, "--gpu", "H100", "--offline", "--json", *gen.COST_BASES["api-price"]]


@pytest.mark.parametrize("words", [
    ["--request-rate", "1e-308"], ["--sweep", "request-rate=1e-308,1"], ["--num-prompts", str(10**30)],
    ["--num-prompts", "10000", "--random-output-len", "121"],
    ["--speculative-config", '{"method": "ngram", "num_speculative_tokens": 1000000000000000000000000000000, '
                             '"prompt_lookup_max": 4}'],
    ["--speculative-config", '{"method": "medusa", "model": "x/medusa", "num_speculative_tokens": 3}'],
    ["--speculative-config", '{"model": "meta-llama/Llama-3.2-1B-Instruct", "num_speculative_tokens": 5}'],
    ["--sweep", "max-concurrency=1,2", "--plot", "x" * 5000 + ".svg"],
])
def test_perf_inputs_that_broke_the_contract(words: list[str]) -> None:
    _hold([*PERF, *words])


@pytest.mark.parametrize("words", [
    ["--gpu-price", "1e308"], ["--fixed-monthly", "1e308"], ["--hours-per-month", "1e-308"],
    ["--peak-to-average", "1e308"], ["--api-price", "0,1e-300"], ["--api-price", "1e308,1e308"],
    ["--per-replica-rate", "1e-300/s"],
])
def test_cost_inputs_that_broke_the_contract(words: list[str]) -> None:
    _hold([*COST, *words])


def test_a_finite_but_huge_cost_input_is_a_limit_error_not_an_overflow() -> None:
    code, _, err, _, _ = cr.invoke([*COST, "--gpu-price", "1e308"])
    assert code == 2 and "--gpu-price" in err and "at most" in err
    code, out, _, _, _ = cr.invoke([*COST, "--api-price", "0,1e-300"])
    assert code == 0 and '"break_even_requests_per_month": null' in out
