"""`planner check`: find vLLM launches in deployment files and report what would fail (issue 5).

    from planner.gate.run import check_paths
    from planner.gate.rules import Settings
    report = check_paths(["deploy/"], settings=Settings(gpu="H100"))
    report.exit_code, report.findings

Modules: yamlsrc (YAML with line numbers), shell (tokenizer with lines), extract (file kinds ->
Invocation), rules (Invocation -> Finding, memory rules through planner.memory.estimator), run (walk + report),
report (human, json, github, junit).
"""
