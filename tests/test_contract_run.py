"""tools/contract_run.py counts what it should: each way of breaking the contract is caught."""

from __future__ import annotations

import json
from pathlib import Path

from tools import contract_run as cr
from tools import generators as gen


def test_a_good_run_holds() -> None:
    case = cr.Case(["estimate", "llama-3.1-8b", "--gpu", "H100", "--offline", "--json"])
    code, out, err, escaped, seconds = cr.invoke(case.argv)
    assert code == 0 and escaped is None and json.loads(out)["fits"] is True
    assert cr.verdict(case, code, out, err, escaped, seconds) is None


def test_a_bad_input_holds_with_one_error_line() -> None:
    case = cr.Case(["estimate", "llama-3.1-8b", "--gpu", "H10", "--offline"])
    run = cr.invoke(case.argv)
    assert run[0] == 2 and cr.verdict(case, *run) is None


def test_each_breach_is_named() -> None:
    case = cr.Case(["estimate"], allowed=(0, 1))
    assert cr.verdict(case, 2, "", "planner: error: x\n", None, 0.1) == "exit 2 (allowed 0/1)"
    case = cr.Case(["estimate"])
    assert cr.verdict(case, 2, "", "warning: w\nplanner: error: x\n", None, 0.1) == "exit 2 with 2 stderr line(s)"
    assert cr.verdict(case, 1, "Traceback (most recent call last):\n", "", None, 0.1) == "traceback"
    assert cr.verdict(case, 2, "", "planner: error: internal error: boom\n", None, 0.1) == "internal error"
    assert cr.verdict(case, -1, "", "", TypeError("x"), 0.1) == "exception TypeError"
    assert cr.verdict(case, 0, "", "", None, 5.5) == "took 5.5 s"
    secret = cr.Case(["plan"], secrets=("hf_abc",))
    assert cr.verdict(secret, 0, "token hf_abc", "", None, 0.1) == "secret echoed"


def test_check_cannot_read_and_silent_passes() -> None:
    named = "/x/deploy.yaml"
    unreadable = json.dumps({"files": [{"path": named, "status": "unreadable", "reason": "not valid YAML"}]})
    assert cr.verdict(cr.Case(["check", named]), 2, unreadable, "", None, 0.1) is None
    silent = cr.Case(["check", named], named_vllm_file=named)
    assert cr.verdict(silent, 0, json.dumps({"files": []}), "", None, 0.1) == \
        "a named file that mentions vLLM passed silently"


def test_the_areas_generate_their_classes() -> None:
    assert len(gen.flag_cases()) > 10_000
    assert sum(1 for _ in gen.config_mutations()) > 10_000
    assert sum(1 for _ in gen.broken_kind_texts()) > 1_000
    assert len(gen.pasted_commands()) == len(gen.PASTED_FORMS) * len(gen.PASTED_MODELS)
    forms = len(gen.secret_forms("x", Path("/nonexistent")))
    assert len(list(cr.secret_cases(Path("/nonexistent")))) == 8 * forms


def test_a_small_area_runs_and_counts(capsys) -> None:
    assert cr.main(["--area", "pasted", "--shard", "0/13"]) == 0
    out = capsys.readouterr().out
    assert "pasted   tried" in out and "broke     0" in out
