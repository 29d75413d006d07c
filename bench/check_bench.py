"""Time `planner check` on the inputs of issues 5 and 11: 200 manifests, 10,000 and 30,000 YAML
documents, a billion-laughs alias tree, an 8 MiB manifest stream. Prints one line per case
(seconds, exit code, and the reason when the input is refused) and exits 1 if one exceeds its budget.

    .venv/bin/python bench/check_bench.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

BUDGET_S = {"200 manifests": 2.0}
DEFAULT_BUDGET_S = 5.0


def cases(tmp: Path) -> dict[str, list[str]]:
    from test_fuzz_check import big_manifest_stream, billion_laughs  # noqa: PLC0415 - tests/ joins sys.path at run time

    template = (ROOT / "tests" / "data" / "check" / "good" / "k8s-llama.yaml").read_text()
    folder = tmp / "manifests"
    folder.mkdir()
    for i in range(200):
        (folder / f"d{i:03}.yaml").write_text(template.replace('"8192"', f'"{4096 + 1024 * (i % 9)}"'))
    out = {"200 manifests": [str(folder)]}
    for n in (10_000, 30_000):
        p = tmp / f"docs-{n}.yaml"
        p.write_text("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: vllm}\n" * n)
        out[f"{n:,} documents"] = [str(p)]
    for name, text in (("billion laughs", billion_laughs(12)), ("8 MiB stream", big_manifest_stream(8 * 2**20 - 100))):
        p = tmp / (name.replace(" ", "-") + ".yaml")
        p.write_text(text)
        out[name] = [str(p)]
    return out


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        for name, args in cases(Path(d)).items():
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", "from planner.cli import main; main()", "check", *args,
                                  "--format", "github"],
                                 capture_output=True, text=True, cwd=ROOT, check=False)
            took = time.perf_counter() - t0
            budget = BUDGET_S.get(name, DEFAULT_BUDGET_S)
            reason = next((ln.split("::", 2)[-1] for ln in res.stdout.splitlines() if "title=unreadable" in ln), "")
            ok = took <= budget and res.returncode in (0, 1, 2)
            failed += not ok
            print(f"{'ok  ' if ok else 'SLOW'} {name:<16} {took:6.2f} s (budget {budget:.0f} s) exit {res.returncode}"
                  f"{'  ' + reason[-90:] if reason else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
