"""planner check on 200 manifests: every one read and estimated once per distinct input (issue 5).

The time it takes is measured in bench/check_bench.py (no timing assertions in unit tests)."""

from __future__ import annotations

from pathlib import Path

from planner.gate.rules import Settings
from planner.gate.run import check_paths

DATA = Path(__file__).parent / "data" / "check"
MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-8B",
          "mistralai/Mistral-7B-Instruct-v0.3", "meta-llama/Llama-3.1-70B-Instruct")
LABELS = ("NVIDIA-L4", "NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "NVIDIA-L40S")


def test_200_manifests_are_all_checked(tmp_path: Path) -> None:
    template = (DATA / "good" / "k8s-llama.yaml").read_text()
    for i in range(200):
        text = (template.replace("meta-llama/Llama-3.1-8B-Instruct", MODELS[i % len(MODELS)])
                .replace("NVIDIA-L4", LABELS[(i // len(MODELS)) % len(LABELS)])
                .replace('"8192"', f'"{4096 + 1024 * (i % 9)}"'))
        (tmp_path / f"deploy-{i:03}.yaml").write_text(text)
    report = check_paths([str(tmp_path)], settings=Settings())    # fresh caches: nothing loaded yet
    assert len(report.files) == 200 and all(len(r.invocations) == 1 for r in report.files)
    assert all(inv.memory is not None for r in report.files for inv in r.invocations)   # estimates ran
    assert any(f.rule == "weights-do-not-fit" for f in report.findings)                 # 70B on an L4
