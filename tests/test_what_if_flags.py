"""--kv-cache-memory-bytes on a release that lacks it is a what-if ("given this much KV memory"), with a
warning; `planner check` of a file that passes it to such a release still flags it (vLLM would refuse it)."""

from __future__ import annotations

import pytest

from planner.errors import PlannerError
from planner.release.serve_args import parse_serve_argv
from planner.resolve import estimate_from, resolve_inputs


def test_estimate_takes_the_flag_as_a_what_if_on_an_older_release() -> None:
    inputs = resolve_inputs(["llama-3.1-8b", "--kv-cache-memory-bytes", "20G"], gpu="H100", vllm_version="0.9.2")
    est = estimate_from(inputs)
    assert est.resolved.kv_cache_memory_bytes == 20 * 2**30
    assert est.kv_cache.tokens == 20 * 2**30 // est.kv_cache.bytes_per_token // 16 * 16
    assert [w.code for w in est.warnings].count("what_if_flag") == 1


def test_no_what_if_warning_where_the_release_has_the_flag() -> None:
    est = estimate_from(resolve_inputs(["llama-3.1-8b", "--kv-cache-memory-bytes", "20G"], gpu="H100",
                                       vllm_version="0.33.0"))
    assert "what_if_flag" not in [w.code for w in est.warnings]


def test_a_deployment_file_passing_it_to_an_older_release_is_still_flagged() -> None:
    cmd = parse_serve_argv(["vllm", "serve", "m", "--kv-cache-memory-bytes", "20G"], version="0.9.2")
    assert cmd.unknown == ["--kv-cache-memory-bytes"]


def test_other_newer_flags_are_still_refused_in_estimate() -> None:
    with pytest.raises(PlannerError, match="new in vLLM"):
        resolve_inputs(["llama-3.1-8b", "--max-cudagraph-capture-size", "64"], gpu="H100", vllm_version="0.6.6.post1")
