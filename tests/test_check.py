"""planner check, end to end on realistic files (tests/data/check): each file kind good and broken,
each rule firing and not firing, line numbers, anchors, multi-document files, files ignored silently,
malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.gate.model import Finding, Report
from planner.gate.rules import Settings
from planner.gate.run import check_paths

DATA = Path(__file__).parent / "data" / "check"


def _check(*paths: str | Path, strict: bool = False, **settings: object) -> Report:
    return check_paths([str(p) for p in paths], settings=Settings(**settings), strict=strict)  # type: ignore[arg-type]


def _rules(report: Report, name: str | None = None) -> list[tuple[int, str, str]]:
    return [(f.line, f.rule, f.severity) for f in report.findings if name is None or f.file.endswith(name)]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def good() -> Report:
    return _check(DATA / "good")


@pytest.fixture(scope="module")
def broken() -> Report:
    return _check(DATA / "broken")


def test_good_files_pass_with_no_findings(good: Report) -> None:
    kinds = sorted(r.kind or "" for r in good.files)
    assert kinds == ["compose", "dockerfile", "kubernetes", "kubernetes", "kubernetes", "planner", "shell"]
    assert good.findings == []
    assert good.exit_code == 0
    # The memory model ran for every one of them (a silent skip would also give no findings).
    for r in good.files:
        for inv in r.invocations:
            assert inv.memory is not None and inv.memory["fits"], (r.path, inv.where)


def test_good_memory_facts(good: Report) -> None:
    by_file = {Path(r.path).name: r.invocations[0] for r in good.files}
    lws = by_file["lws-405b.yaml"]
    assert (lws.gpu_count, lws.replicas_per_group) == (8, 2)
    assert lws.command is not None and lws.command.args.pipeline_parallel_size == 2   # --pipeline_parallel_size
    assert by_file["kserve-isvc.yaml"].command.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert by_file["serve.sh"].command.model == "meta-llama/Llama-3.1-8B-Instruct"   # ${MODEL:-default}
    assert by_file["Dockerfile"].vllm_version == "0.33.0"                          # from the FROM tag
    assert by_file["k8s-llama.yaml"].memory["gpu"] == "L4-24GB"                    # GFD label resolved


def test_broken_kubernetes_findings_and_lines(broken: Report) -> None:
    got = _rules(broken, "k8s-multi.yaml")
    assert (29, "flag-removed", "error") in got                   # --swap-space on a 0.19.0 image
    assert (31, "flag-unknown", "error") in got                   # --gpu-memory-utilisation
    assert (54, "parallel-gpu-mismatch", "error") in got          # TP 2 on 1 GPU (merged container)
    assert (68, "readiness-probe", "warning") in got
    assert (69, "image-latest", "warning") in got
    assert (71, "gpu-utilization-high", "warning") in got
    assert (71, "max-model-len-missing", "warning") in got
    assert (71, "kv-cache-too-small", "error") in got             # 128k context on an L4
    hint = next(f.hint for f in broken.findings if f.rule == "flag-unknown" and f.file.endswith("k8s-multi.yaml"))
    assert "--gpu-memory-utilization" in (hint or "")


def test_anchor_merge_key_container_inherits_resources_and_probe(broken: Report) -> None:
    """The second Deployment's container is `<<: *server`: same 1-GPU limit and probe, its own args."""
    r = next(r for r in broken.files if r.path.endswith("k8s-multi.yaml"))
    tp = next(i for i in r.invocations if "qwen-chat-tp" in i.where)
    assert tp.gpu_count == 1 and tp.readiness == "health" and tp.gpu_label == "NVIDIA-A100-SXM4-80GB"
    assert tp.image_line == 25                                    # the line in the anchored mapping
    assert not any(f.rule == "flag-removed" and f.where == tp.where for f in r.findings)


def test_broken_compose(broken: Report) -> None:
    got = _rules(broken, "compose.yaml")
    assert (17, "flag-not-yet", "error") in got                   # --disable-prefix-caching on 0.10.1.1
    assert (20, "weights-do-not-fit", "error") in got             # 70B on one A10G
    assert (14, "readiness-probe", "warning") in got and (18, "readiness-probe", "warning") in got


def test_broken_dockerfile(broken: Report) -> None:
    got = _rules(broken, "Dockerfile")
    assert (5, "heads-not-divisible", "error") in got
    assert (6, "max-model-len-too-large", "error") in got


def test_broken_shell_script(broken: Report) -> None:
    got = _rules(broken, "start.sh")
    assert (3, "flag-renamed", "error") in got
    assert (4, "flag-removed", "error") in got
    assert (3, "weights-do-not-fit", "error") in got              # Qwen3-8B in 16 bits on a T4


def test_broken_planner_requirements(broken: Report) -> None:
    got = _rules(broken, "planner.yaml")
    assert (6, "requirement-context", "error") in got
    assert (17, "requirement-concurrency", "error") in got


def test_requirement_headroom(tmp_path: Path) -> None:
    """Llama 3.1 8B on an H100 holds ~13.9 requests of 32k: enough for 8, but not with 100 % spare."""
    text = ("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: H100-SXM-80GB\nvllm: 0.33.0\n"
            "flags: --max-model-len 32768\nrequirements:\n  min_context: 32k\n  min_concurrency: 8\n"
            "  min_kv_headroom: HEADROOM\n")
    ok = _check(_write(tmp_path, "a.yaml", text.replace("HEADROOM", "0.5")))
    assert ok.findings == []
    short = _rules(_check(_write(tmp_path, "b.yaml", text.replace("HEADROOM", "100%"))))
    assert short == [(8, "requirement-headroom", "error")]


def test_concurrency_is_judged_at_the_required_context(tmp_path: Path) -> None:
    """Served with max_model_len 32768 (~13.9 requests of 32k on an H100), but the requirement is about
    16k-token requests, of which the same KV cache holds about twice as many."""
    text = ("model: meta-llama/Llama-3.1-8B-Instruct\ngpu: H100-SXM-80GB\nvllm: 0.33.0\n"
            "flags: --max-model-len 32768\nrequirements:\n  min_context: 16384\n  min_concurrency: N\n")
    assert _check(_write(tmp_path, "a.yaml", text.replace("N", "20"))).findings == []
    report = _check(_write(tmp_path, "b.yaml", text.replace("N", "40")))
    assert _rules(report) == [(7, "requirement-concurrency", "error")]
    assert "requests of 16,384 tokens" in report.findings[0].message


def test_exit_code_of_broken_is_1(broken: Report) -> None:
    assert broken.exit_code == 1 and broken.errors >= 15


def test_malformed_file_exit_2_and_others_still_checked() -> None:
    report = _check(DATA / "malformed" / "bad.yaml", DATA / "good" / "serve.sh")
    bad = report.files[0]
    assert bad.unreadable is not None and "not valid YAML" in bad.unreadable and "line 9" in bad.unreadable
    assert report.files[1].invocations and report.files[1].findings == []
    assert report.exit_code == 2


def test_non_vllm_files_are_ignored_silently() -> None:
    report = _check(DATA / "ignored")
    assert [Path(r.path).name for r in report.files] == ["deployment.yaml"]   # the Helm template, skipped
    assert report.files[0].skipped and "helm template" in report.files[0].skipped
    assert report.exit_code == 0 and report.findings == []


def test_named_files_that_are_not_vllm_are_ignored_too() -> None:
    """pre-commit passes every changed file by name: unrelated YAML, even malformed, is not our business."""
    report = _check(DATA / "ignored" / "nginx.yaml", DATA / "ignored" / "broken-unrelated.yaml",
                    DATA / "ignored" / "notes.md")
    assert report.files == [] and report.exit_code == 0


def test_missing_path_is_unreadable() -> None:
    report = _check(DATA / "does-not-exist.yaml")
    assert report.files[0].unreadable == "no such file or folder" and report.exit_code == 2


def test_explicit_binary_file_is_unreadable(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(b"\x00\x01vllm")
    assert _check(p).files[0].unreadable == "binary file"


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    p = _write(tmp_path, "d.yaml", _deployment_text(probe=""))
    assert _check(p).exit_code == 0 and _check(p).warnings == 1
    strict = _check(p, strict=True)
    assert strict.exit_code == 1 and strict.errors == 1


# ---- single rules, firing and not firing -----------------------------------------------------------

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: m
spec:
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: GPU_LABEL
      containers:
        - name: vllm
          image: IMAGE
          args: ARGS
          resources:
            limits:
              nvidia.com/gpu: "GPUS"
PROBE
"""
_PROBE = """\
          readinessProbe:
            httpGet:
              path: /health
              port: 8000"""


def _deployment_text(*, args: str = '["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"]',
                     gpus: int = 1, image: str = "vllm/vllm-openai:v0.33.0", label: str = "NVIDIA-H100-80GB-HBM3",
                     probe: str = _PROBE) -> str:
    return (_DEPLOYMENT.replace("GPU_LABEL", label).replace("IMAGE", image).replace("ARGS", args)
            .replace("GPUS", str(gpus)).replace("PROBE", probe))


def _deployment(tmp_path: Path, settings: dict[str, object] | None = None, **kw: object) -> list[tuple[int, str, str]]:
    return _rules(_check(_write(tmp_path, "d.yaml", _deployment_text(**kw)), **(settings or {})))  # type: ignore[arg-type]


def test_baseline_deployment_is_clean(tmp_path: Path) -> None:
    assert _deployment(tmp_path) == []


def test_readiness_probe_rule(tmp_path: Path) -> None:
    assert ("readiness-probe" in {r for _, r, _ in _deployment(tmp_path, probe="")})
    other = _PROBE.replace("/health", "/v1/models")
    assert (17, "readiness-probe", "warning") in _deployment(tmp_path, probe=other)


def test_image_tag_rule(tmp_path: Path) -> None:
    assert (12, "image-latest", "warning") in _deployment(tmp_path, image="vllm/vllm-openai:latest")
    assert (12, "image-latest", "warning") in _deployment(tmp_path, image="vllm/vllm-openai")
    assert _deployment(tmp_path, image="vllm/vllm-openai:v0.33.0-cu130") == []
    # A digest pins the image even without a version tag; the version is then unknown (no flag errors).
    assert "image-latest" not in {r for _, r, _ in _deployment(tmp_path, image="vllm/vllm-openai@sha256:ab")}


def test_utilization_rule(tmp_path: Path) -> None:
    args = '["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", "--gpu-memory-utilization", "%s"]'
    assert (13, "gpu-utilization-high", "warning") in _deployment(tmp_path, args=args % "0.97")
    assert _deployment(tmp_path, args=args % "0.95") == []
    assert (13, "flag-value", "error") in _deployment(tmp_path, args=args % "1.2")   # vLLM rejects > 1


def test_parallel_gpu_rule(tmp_path: Path) -> None:
    args = '["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", "-tp", "%d", "-pp", "%d"]'
    assert _deployment(tmp_path, args=args % (2, 2), gpus=4) == []
    assert (13, "parallel-gpu-mismatch", "error") in _deployment(tmp_path, args=args % (4, 2), gpus=4)
    assert (13, "parallel-gpu-mismatch", "warning") in _deployment(tmp_path, args=args % (2, 1), gpus=4)


def test_gpu_count_missing_rule(tmp_path: Path) -> None:
    text = _DEPLOYMENT.replace("GPU_LABEL", "NVIDIA-L4").replace("IMAGE", "vllm/vllm-openai:v0.33.0") \
        .replace("ARGS", '["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192"]') \
        .replace('              nvidia.com/gpu: "GPUS"', "              memory: 16Gi").replace("PROBE", _PROBE)
    assert ("gpu-count-missing") in {f.rule for f in _check(_write(tmp_path, "d.yaml", text)).findings}


def test_max_model_len_rule(tmp_path: Path) -> None:
    got = _deployment(tmp_path, args='["meta-llama/Llama-3.1-8B-Instruct"]')
    assert (13, "max-model-len-missing", "warning") in got
    # A model whose own context is short needs no --max-model-len.
    assert _deployment(tmp_path, args='["mistralai/Mistral-7B-Instruct-v0.3"]') == []


def test_flag_rules_follow_the_image_version(tmp_path: Path) -> None:
    args = '["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", "--swap-space", "4"]'
    assert (13, "flag-removed", "error") in _deployment(tmp_path, args=args, image="vllm/vllm-openai:v0.18.0")
    assert _deployment(tmp_path, args=args, image="vllm/vllm-openai:v0.17.1") == []


def test_unknown_version_only_never_existing_flags_are_errors(tmp_path: Path) -> None:
    """Without a version, a flag that existed in some release is a warning; a typo is still an error."""
    args = ('["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", "--swap-space", "4", '
            '"--max-modle-len", "1"]')
    got = _deployment(tmp_path, args=args, image="registry.local/inference/vllm-server:1.4")
    assert (13, "flag-removed", "warning") in got and (13, "flag-unknown", "error") in got
    # A non-vLLM image given args and no command is not a vLLM invocation at all.
    assert _deployment(tmp_path, args=args, image="registry.local/inference/server:1.4") == []


def test_version_from_cli_when_file_does_not_say(tmp_path: Path) -> None:
    args = '["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", "--swap-space", "4"]'
    got = _deployment(tmp_path, {"vllm_version": "0.33.0"}, args=args, image="registry.local/vllm:custom")
    assert (13, "flag-removed", "error") in got


def test_gpu_rules(tmp_path: Path) -> None:
    assert (9, "gpu-unknown", "warning") in _deployment(tmp_path, label="NVIDIA-Imaginary-9000")
    assert (9, "gpu-mig", "warning") in _deployment(tmp_path, label="NVIDIA-A100-SXM4-80GB-MIG-1g.10gb")
    assert _deployment(tmp_path, label="NVIDIA-H100-80GB-HBM3-SHARED") == []


def test_no_gpu_anywhere_is_a_warning_and_cli_gpu_fills_in(tmp_path: Path) -> None:
    text = """\
#!/bin/sh
exec vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 131072
"""
    p = _write(tmp_path, "run.sh", text)
    assert _rules(_check(p)) == [(2, "gpu-unknown", "warning")]
    with_gpu = _rules(_check(p, gpu="L4"))
    assert (2, "kv-cache-too-small", "error") in with_gpu        # 128k tokens do not fit on an L4


def test_affinity_with_several_gpus_checks_the_smallest(tmp_path: Path) -> None:
    text = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - key: nvidia.com/gpu.product
                operator: In
                values: [NVIDIA-H100-80GB-HBM3, NVIDIA-L4]
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.33.0
      command: [vllm, serve, meta-llama/Llama-3.1-8B-Instruct, --max-model-len, "65536"]
      resources: {limits: {nvidia.com/gpu: 1}}
      readinessProbe: {httpGet: {path: /health, port: 8000}}
"""
    report = _check(_write(tmp_path, "pod.yaml", text))
    inv = report.files[0].invocations[0]
    assert inv.memory is not None and inv.memory["gpu"] == "L4-24GB"
    assert (17, "kv-cache-too-small", "error") in _rules(report)


def test_planner_comment_and_annotation_overrides(tmp_path: Path) -> None:
    base = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: m
  annotations:
    planner.io/gpu: L4-24GB
spec:
  template:
    spec:
      containers:
        - name: vllm
          image: registry.local/vllm:custom
          command: ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--swap-space", "4"]
          resources: {limits: {nvidia.com/gpu: 1}}
          readinessProbe: {httpGet: {path: /health, port: 8000}}
"""
    report = _check(_write(tmp_path, "a.yaml", base))
    inv = report.files[0].invocations[0]
    assert inv.memory is not None and inv.memory["gpu"] == "L4-24GB" and inv.memory["version_assumed"]
    commented = "# planner: vllm=0.33.0 ignore=max-model-len-missing,kv-cache-too-small\n" + base
    got = _rules(_check(_write(tmp_path, "b.yaml", commented)))
    assert (14, "flag-removed", "error") in got
    assert not any(r in ("max-model-len-missing", "kv-cache-too-small") for _, r, _ in got)


def test_comment_applies_to_its_own_document_only(tmp_path: Path) -> None:
    doc = """\
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.33.0
      args: [meta-llama/Llama-3.1-8B-Instruct, --max-model-len, "8192"]
      resources: {limits: {nvidia.com/gpu: 1}}
      readinessProbe: {httpGet: {path: /health, port: 8000}}
"""
    text = "# planner: gpu=H100\n" + doc.replace("NAME", "a") + "---\n" + doc.replace("NAME", "b")
    report = _check(_write(tmp_path, "two.yaml", text))
    a, b = report.files[0].invocations
    assert a.memory is not None and b.memory is None
    assert [(f.line, f.rule) for f in report.findings] == [(20, "gpu-unknown")]


def test_dynamic_values_are_not_guessed(tmp_path: Path) -> None:
    text = """\
#!/bin/bash
# planner: gpu=H100
vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192 --max-num-seqs "$SEQS" --port=$PORT
"""
    got = _rules(_check(_write(tmp_path, "s.sh", text)))
    assert got == [(3, "value-dynamic", "warning"), (3, "value-dynamic", "warning")]


def test_sh_c_in_command_and_k8s_env_expansion(tmp_path: Path) -> None:
    text = """\
apiVersion: batch/v1
kind: Job
metadata: {name: bench}
spec:
  template:
    spec:
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          env:
            - {name: MODEL, value: meta-llama/Llama-3.1-8B-Instruct}
          command: ["/bin/bash", "-c"]
          args:
            - |
              pip list | grep vllm
              vllm serve $(MODEL) \\
                --max-model-len 8192 \\
                --num-scheduler-steps 8
          resources: {limits: {nvidia.com/gpu: 1}}
          readinessProbe: {httpGet: {path: /health, port: 8000}}
"""
    report = _check(_write(tmp_path, "job.yaml", text))
    inv = report.files[0].invocations[0]
    assert inv.command is not None and inv.command.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert _rules(report) == [(19, "flag-removed", "error")]


def test_config_file_flags_are_not_silently_trusted(tmp_path: Path) -> None:
    p = _write(tmp_path, "s.sh", "#!/bin/sh\n# planner: gpu=H100\nvllm serve org/m \\\n  --config /etc/vllm.yaml\n")
    assert (4, "config-file-not-checked", "warning") in _rules(_check(p))


def test_positional_model_on_an_old_api_server(tmp_path: Path) -> None:
    text = ("#!/bin/sh\n# planner: vllm=0.9.2 gpu=H100\n"
            "python3 -m vllm.entrypoints.openai.api_server org/m --port 8000\n")
    (finding,) = [f for f in _check(_write(tmp_path, "s.sh", text)).findings if f.severity == "error"]
    assert (finding.line, finding.rule, finding.hint) == (3, "unexpected-argument", "use --model org/m")


def test_vllm_env_reaches_the_memory_model(tmp_path: Path) -> None:
    """VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 lifts vLLM's max-length check; VLLM_USE_V1=0 picks V0 on 0.8-0.10."""
    text = ("#!/bin/sh\n# planner: gpu=H100 vllm=0.10.1.1\n"
            "ENVS vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 140000\n")
    plain = _check(_write(tmp_path, "a.sh", text.replace("ENVS ", "")))
    assert (3, "max-model-len-too-large", "error") in _rules(plain)
    allowed = _check(_write(tmp_path, "b.sh", text.replace("ENVS", "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1")))
    assert "max-model-len-too-large" not in {r for _, r, _ in _rules(allowed)}
    v1 = plain.files[0].invocations[0].memory
    v0 = _check(_write(tmp_path, "c.sh", text.replace("ENVS", "VLLM_USE_V1=0"))).files[0].invocations[0].memory
    assert v0 is not None and v1 is not None and v0["kv_cache_tokens"] != v1["kv_cache_tokens"]


def test_helm_output_on_stdin() -> None:
    text = (DATA / "good" / "k8s-llama.yaml").read_text()
    report = check_paths(["-"], stdin_text=text, settings=Settings())
    assert report.files[0].path == "<stdin>" and len(report.files[0].invocations) == 1
    assert report.exit_code == 0


def test_finding_records_where(broken: Report) -> None:
    f: Finding = next(f for f in broken.findings if f.rule == "flag-removed" and f.file.endswith("k8s-multi.yaml"))
    assert f.where == "Deployment/qwen-chat container vllm"


def test_manifests_emitted_by_planner_plan_pass_the_check() -> None:
    """What `planner plan --emit` writes (its golden files) must not fail `planner check`."""
    golden = Path(__file__).parent / "golden" / "emit"
    if not golden.is_dir():
        pytest.skip("no emitted golden files")
    report = _check(golden)
    assert report.files and all(r.invocations for r in report.files)
    assert [f for f in report.findings if f.severity == "error"] == []


def _script(tmp_path: Path, body: str, header: str = "# planner: gpu=H100 vllm=0.33.0") -> list[tuple[int, str, str]]:
    return _rules(_check(_write(tmp_path, "run.sh", f"#!/bin/sh\n{header}\n{body}\n")))


def test_deprecated_flags(tmp_path: Path) -> None:
    base = "vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192"
    assert _script(tmp_path, base) == []
    assert _script(tmp_path, base + " --disable-cascade-attn") == [(3, "flag-deprecated", "warning")]
    # --model is deprecated with `vllm serve` only; it is the way to name the model for the api_server.
    moved = "vllm serve --model meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192"
    assert _script(tmp_path, moved) == [(3, "flag-deprecated", "warning")]
    api = "python3 -m vllm.entrypoints.openai.api_server --model meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192"
    assert _script(tmp_path, api) == []


def test_model_rules(tmp_path: Path) -> None:
    assert _script(tmp_path, "vllm serve --max-model-len 8192") == [(3, "model-missing", "warning")]
    assert _script(tmp_path, "vllm serve /models/llama --max-model-len 8192") == [(3, "model-unknown", "warning")]
    # the override names a model the catalog knows; the path in the container stays what vLLM loads
    named = _script(tmp_path, "vllm serve /models/llama --max-model-len 8192",
                    header="# planner: gpu=H100 vllm=0.33.0 model=meta-llama/Llama-3.1-8B-Instruct")
    assert named == []


def test_bad_overrides_and_unmodelled_versions(tmp_path: Path) -> None:
    body = "vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192"
    assert (3, "vllm-version-invalid", "warning") in _script(tmp_path, body, header="# planner: gpu=H100 vllm=next")
    got = _script(tmp_path, body, header="# planner: gpu=H100 vllm=0.4.2")
    assert got == [(3, "estimate-failed", "warning")]          # releases before 0.6 are not modelled
    compose = ("# planner: gpus=two gpu=H100\nservices:\n  v:\n    image: vllm/vllm-openai:v0.33.0\n"
               "    command: [meta-llama/Llama-3.1-8B-Instruct, --max-model-len, '8192']\n"
               "    healthcheck: {test: [CMD, curl, -f, http://localhost:8000/health]}\n")
    assert (1, "override-invalid", "warning") in _rules(_check(_write(tmp_path, "c.yaml", compose)))
