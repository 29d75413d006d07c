"""planner check stays fast enough for a pre-commit hook: 200 manifests in under 2 s (issue 5).

The budget is a `perf` test (left out of the default run, see docs/testing.md); what the 200 files must
give is checked in the default run too."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from planner.check.rules import Settings
from planner.check.run import check_paths

DATA = Path(__file__).parent / "data" / "check"
MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-8B",
          "mistralai/Mistral-7B-Instruct-v0.3", "meta-llama/Llama-3.1-70B-Instruct")
LABELS = ("NVIDIA-L4", "NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "NVIDIA-L40S")


def _check_200(tmp_path: Path) -> float:
    """Check 200 generated manifests; the functional assertions here, the elapsed seconds returned."""
    template = (DATA / "good" / "k8s-llama.yaml").read_text()
    for i in range(200):
        text = (template.replace("meta-llama/Llama-3.1-8B-Instruct", MODELS[i % len(MODELS)])
                .replace("NVIDIA-L4", LABELS[(i // len(MODELS)) % len(LABELS)])
                .replace('"8192"', f'"{4096 + 1024 * (i % 9)}"'))
        (tmp_path / f"deploy-{i:03}.yaml").write_text(text)
    start = time.perf_counter()
    report = check_paths([str(tmp_path)], settings=Settings())
    elapsed = time.perf_counter() - start
    assert len(report.files) == 200 and all(len(r.invocations) == 1 for r in report.files)
    assert all(inv.memory is not None for r in report.files for inv in r.invocations)   # estimates ran
    assert any(f.rule == "weights-do-not-fit" for f in report.findings)                 # 70B on an L4
    return elapsed


def test_200_manifests_are_all_checked(tmp_path: Path) -> None:
    _check_200(tmp_path)


@pytest.mark.perf
def test_200_manifests_under_2_seconds(tmp_path: Path) -> None:
    elapsed = _check_200(tmp_path)
    print(f"planner check: 200 manifests in {elapsed:.2f} s")
    assert elapsed < 2.0, f"200 manifests took {elapsed:.2f} s"
