"""Behaviour of planner.emit: validation, explicit flags, copy/paste rules, secrets, forms, write_all."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_emit_cases import cases, catalog_gpu

from planner.emit import (
    FILES,
    FORMS,
    Deployment,
    app_name,
    commands,
    compose,
    docker_run,
    emit,
    k8s,
    render_all,
    serve_argv,
    vllm_serve,
    write_all,
)
from planner.errors import PlannerError
from planner.release.engine_args import EngineArgs
from planner.release.vllm_flags import flag_exists

SECRET = "hf_THIS-VALUE-MUST-NEVER-BE-PRINTED"
_ARGS = EngineArgs(gpu_memory_utilization=0.9, max_model_len=4096, max_num_seqs=8)


def _dep(**changes: object) -> Deployment:
    base: dict[str, object] = dict(model="org/model", args=_ARGS, vllm_version="0.33.0",
                                   gpu=catalog_gpu("H100-SXM-80GB"), num_gpus=1)
    base.update(changes)
    return Deployment(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Deployment validation

@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"num_gpus": 2}, "emit_gpu_count"),
        ({"port": 0}, "emit_bad_port"),
        ({"port": 70000}, "emit_bad_port"),
        ({"model": "--help"}, "emit_bad_model"),
        ({"model": "  "}, "emit_bad_model"),
        ({"model": "a\0b"}, "emit_bad_model"),
        ({"served_model_name": "-x"}, "emit_bad_served_name"),
        ({"env": {"1BAD": "x"}}, "emit_bad_env"),
        ({"env": {"A B": "x"}}, "emit_bad_env"),
        ({"env": {"HF_TOKEN": "x"}}, "emit_secret_env"),
        ({"env": {"VLLM_API_KEY": "x"}}, "emit_secret_env"),
        ({"env": {"X": "a\0"}}, "emit_bad_env"),
        ({"name": "Bad_Name"}, "emit_bad_name"),
        ({"name": "9lives"}, "emit_bad_name"),
        ({"vllm_version": "latest"}, "emit_bad_version"),
        ({"vllm_version": "0.33.0; rm -rf /"}, "emit_bad_version"),
        ({"max_replicas": 0}, "emit_bad_hpa"),
    ],
)
def test_bad_deployment_is_a_planner_error(changes: dict[str, object], code: str) -> None:
    with pytest.raises(PlannerError) as exc:
        _dep(**changes)
    assert exc.value.code == code


@pytest.mark.parametrize("key", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "AWS_SECRET_ACCESS_KEY",
                                 "DB_PASSWORD", "hf_token", "SECRET"])
def test_secret_looking_env_is_refused(key: str) -> None:
    with pytest.raises(PlannerError) as exc:
        _dep(env={key: "x"})
    assert exc.value.code == "emit_secret_env"


@pytest.mark.parametrize("key", ["VLLM_MAX_TOKENS_PER_EXPERT_FP4_MOE", "VLLM_USE_FASTOKENS",
                                 "VLLM_MULTI_STREAM_GEMM_TOKEN_THRESHOLD", "VLLM_MAX_BAD_WORDS_TOTAL_TOKENS"])
def test_vllm_token_knobs_are_not_secrets(key: str) -> None:
    """Real vLLM 0.33.0 env vars (vllm/envs.py) that mention tokens are ordinary settings."""
    assert f"{key}=64" in vllm_serve(_dep(env={key: "64"}))


def test_num_gpus_must_be_tp_times_pp() -> None:
    d = _dep(args=_ARGS.with_(tensor_parallel_size=2, pipeline_parallel_size=2), num_gpus=4)
    assert d.num_gpus == 4
    with pytest.raises(PlannerError):
        _dep(args=_ARGS.with_(tensor_parallel_size=2, pipeline_parallel_size=2), num_gpus=2)
    # Data parallel ranks inside one `vllm serve` each take TP x PP GPUs.
    d = _dep(args=_ARGS.with_(tensor_parallel_size=2, data_parallel_size=2), num_gpus=4)
    pod = next(yaml.safe_load_all(k8s(d)))["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": 4}
    assert "--data-parallel-size" in serve_argv(d)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("meta-llama/Llama-3.1-70B-Instruct", "llama-3-1-70b-instruct"),
        ("Qwen/Qwen3-8B", "qwen3-8b"),
        ("/models/01-ai/Yi-34B/", "yi-34b"),
        ("./7b", "vllm-7b"),
        ("///", "vllm"),
        ("org/" + "X" * 100, "x" * 63),
    ],
)
def test_app_name(model: str, name: str) -> None:
    assert app_name(model) == name
    assert _dep(model=model).name == name


@settings(max_examples=200, deadline=None)
@given(model=st.text(min_size=1).filter(lambda m: m.strip() and not m.startswith("-") and "\0" not in m))
def test_any_model_gets_a_valid_app_name(model: str) -> None:
    name = _dep(model=model).name
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name), name


def test_explicit_name_is_kept() -> None:
    assert _dep(name="my-llm").name == "my-llm"


def test_image_is_pinned_to_the_target_version() -> None:
    assert _dep(vllm_version="0.10.1.1").image == "vllm/vllm-openai:v0.10.1.1"
    assert _dep(vllm_version="v0.33.0").image == "vllm/vllm-openai:v0.33.0"


# ---------------------------------------------------------------- the serve flags

def _flag_words(argv: list[str]) -> list[str]:
    return [w for w in argv if w.startswith("--")]


def test_four_flags_are_always_stated_even_at_defaults() -> None:
    # tensor_parallel_size=1 is EngineArgs' default and 0.92 vLLM's: both are still written.
    d = _dep(args=EngineArgs(gpu_memory_utilization=0.92, max_model_len=2048, max_num_seqs=256))
    argv = serve_argv(d)
    for flag, value in [("--tensor-parallel-size", "1"), ("--gpu-memory-utilization", "0.92"),
                        ("--max-model-len", "2048"), ("--max-num-seqs", "256")]:
        assert argv[argv.index(flag) + 1] == value


@pytest.mark.parametrize("missing", ["gpu_memory_utilization", "max_model_len", "max_num_seqs"])
def test_unresolved_plan_is_refused(missing: str) -> None:
    d = _dep(args=_ARGS.with_(**{missing: None}))
    with pytest.raises(PlannerError):
        vllm_serve(d)


def test_port_and_served_name_replace_passthrough_copies() -> None:
    args = _ARGS.with_(passthrough=(("--port", "1234"), ("--served-model-name", "old"),
                                    ("--host", "0.0.0.0")))
    argv = serve_argv(_dep(args=args, served_model_name="new", port=8080), port=8080)
    assert argv.count("--port") == 1 and argv[argv.index("--port") + 1] == "8080"
    assert argv.count("--served-model-name") == 1 and argv[argv.index("--served-model-name") + 1] == "new"
    assert "--host" in argv
    # Containers always listen on vLLM's default port; the mapping carries d.port.
    assert "--port" not in serve_argv(_dep(args=args, port=8080))
    # Without a served name of its own, the Deployment keeps the names the user gave (several here).
    names = _ARGS.with_(passthrough=(("--served-model-name", "a 'b c'"),))
    argv = serve_argv(_dep(args=names))
    assert argv[argv.index("--served-model-name") + 1:][:2] == ["a", "b c"]


@pytest.mark.parametrize("name", ["single-gpu", "tp4-gated", "awq-env"])
def test_every_emitted_flag_exists_in_the_target_version(name: str) -> None:
    d = cases()[name]
    serve_words = [
        shlex.split(vllm_serve(d, one_line=True)),
        yaml.safe_load(compose(d))["services"][d.name]["command"],
        next(doc for doc in yaml.safe_load_all(k8s(d)) if doc["kind"] == "Deployment")
        ["spec"]["template"]["spec"]["containers"][0]["args"],
    ]
    docker = shlex.split(docker_run(d, one_line=True))
    serve_words.append(docker[docker.index(d.image) + 1:])
    for words in serve_words:
        flags = _flag_words(words)
        assert {"--tensor-parallel-size", "--gpu-memory-utilization", "--max-model-len",
                "--max-num-seqs"} <= set(flags)
        for flag in flags:
            assert flag_exists(flag, d.vllm_version), (flag, d.vllm_version)


def test_a_flag_the_version_lacks_is_an_error_not_output() -> None:
    d = _dep(args=_ARGS.with_(passthrough=(("--swap-space", "4"),)))
    with pytest.raises(PlannerError):
        vllm_serve(d)


# ---------------------------------------------------------------- copy/paste rules

@pytest.mark.parametrize("form", ["vllm", "docker"])
@pytest.mark.parametrize("name", ["single-gpu", "tp4-gated", "awq-env"])
def test_commands_follow_copy_paste_rules(name: str, form: str) -> None:
    text = emit(cases()[name], form)
    lines = text.split("\n")
    assert "\x1b" not in text and "\t" not in text and "\r" not in text
    for line in lines:
        assert line == line.rstrip(), repr(line)
    for line in lines[:-1]:
        assert line.endswith(" \\"), repr(line)
    assert not lines[-1].endswith("\\")
    one = (vllm_serve if form == "vllm" else docker_run)(cases()[name], one_line=True)
    assert "\n" not in one and one == one.strip()
    # The multi-line text is the one-line command with continuations.
    assert text.replace(" \\\n  ", " ").replace(" \\\n", " ") == one


def test_env_vars_are_prefixes_of_the_serve_command() -> None:
    d = cases()["awq-env"]
    words = shlex.split(vllm_serve(d, one_line=True))
    assert words[:2] == ["VLLM_ALLOW_LONG_MAX_MODEL_LEN=1", "VLLM_LOGGING_LEVEL=DEBUG"]
    assert words[2:] == serve_argv(d, port=d.port)
    assert words[words.index("--port") + 1] == "9000"


# ---------------------------------------------------------------- secrets

def _all_texts(d: Deployment, tmp_path: Path) -> list[str]:
    out = [emit(d, f) for f in FORMS] + [vllm_serve(d, one_line=True), docker_run(d, one_line=True)]
    out += list(commands(d).values())
    folder = tmp_path / d.name
    out += [p.read_text(encoding="utf-8") for p in write_all(d, folder)]
    return out


@pytest.mark.parametrize("name", ["single-gpu", "tp4-gated", "awq-env"])
def test_hf_token_value_never_appears(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", SECRET)
    d = cases()[name]
    for text in _all_texts(d, tmp_path):
        assert SECRET not in text
    assert "-e HF_TOKEN \\" in docker_run(d)      # passed by name, from the caller's environment


# ---------------------------------------------------------------- docker

@pytest.mark.parametrize(("tp", "expected"), [(1, '"device=0"'), (2, '"device=0,1"'), (8, "all")])
def test_docker_gpus_match_the_count(tp: int, expected: str) -> None:
    d = _dep(args=_ARGS.with_(tensor_parallel_size=tp), num_gpus=tp)   # an H100 node holds 8
    words = shlex.split(docker_run(d, one_line=True))
    assert words[words.index("--gpus") + 1] == expected


def test_docker_command_layout() -> None:
    d = cases()["awq-env"]
    words = shlex.split(docker_run(d, one_line=True))
    assert words[:5] == ["docker", "run", "--rm", "--name", d.name]
    assert "--ipc=host" in words
    assert words[words.index("-p") + 1] == "9000:8000"
    assert words[words.index("--entrypoint") + 1] == "vllm"
    assert [words[i + 1] for i, w in enumerate(words) if w == "-e"] == [
        "HF_TOKEN", "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1", "VLLM_LOGGING_LEVEL=DEBUG"]
    assert "vllm/vllm-openai:v0.32.0" in words
    image_at = words.index(d.image)
    # entrypoint `vllm` + these words == the serve argv (without --port: the container uses 8000).
    assert ["vllm", *words[image_at + 1:]] == serve_argv(d)
    health = words[words.index("--health-cmd") + 1]
    assert shlex.split(health)[:2] == ["python3", "-c"] and "/health" in health


# ---------------------------------------------------------------- container forms: scope

def test_container_forms_refuse_non_nvidia_and_multi_node() -> None:
    amd = _dep(gpu=catalog_gpu("MI300X-192GB"))
    assert vllm_serve(amd).startswith("vllm serve org/model")
    for form in ("docker", "compose", "k8s"):
        with pytest.raises(PlannerError) as exc:
            emit(amd, form)
        assert exc.value.code == "emit_unsupported_gpu"
    assert set(commands(amd)) == {"vllm"}
    gpu = catalog_gpu("H100-SXM-80GB")
    big = _dep(args=_ARGS.with_(tensor_parallel_size=gpu.gpus_per_node, pipeline_parallel_size=2),
               num_gpus=2 * gpu.gpus_per_node)
    for form in ("docker", "compose"):
        with pytest.raises(PlannerError) as exc:
            emit(big, form)
        assert exc.value.code == "emit_multi_node"
    # Beyond one node the Kubernetes form is a LeaderWorkerSet (tests/test_multinode.py).
    assert yaml.safe_load(emit(big, "k8s"))["kind"] == "LeaderWorkerSet"


# ---------------------------------------------------------------- compose and k8s structure

def test_compose_service() -> None:
    d = cases()["tp4-gated"]
    svc = yaml.safe_load(compose(d))["services"][d.name]
    assert svc["image"] == "vllm/vllm-openai:v0.33.0"
    assert svc["entrypoint"] + svc["command"] == serve_argv(d)
    assert svc["ipc"] == "host"
    assert svc["ports"] == ["8000:8000"]
    assert svc["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 4, "capabilities": ["gpu"]}]
    assert svc["environment"]["HF_TOKEN"].startswith("${HF_TOKEN:?")      # gated: refuse to start without
    assert yaml.safe_load(compose(cases()["single-gpu"]))["services"]["qwen3-8b"]["environment"]["HF_TOKEN"] \
        == "${HF_TOKEN:-}"
    assert svc["healthcheck"]["test"][:3] == ["CMD", "python3", "-c"]
    assert "/health" in svc["healthcheck"]["test"][3]


def _k8s_docs(d: Deployment) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(k8s(d))}


def test_k8s_deployment_matches_the_plan() -> None:
    d = _dep(args=_ARGS.with_(tensor_parallel_size=2, pipeline_parallel_size=2), num_gpus=4,
             hf_token_required=True, env={"VLLM_LOGGING_LEVEL": "DEBUG"}, port=9000)
    docs = _k8s_docs(d)
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert "replicas" not in docs["Deployment"]["spec"]      # the HPA owns the replica count
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == d.image
    assert c["command"] + c["args"] == serve_argv(d)
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 4} == c["resources"]["requests"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": d.gpu.gfd_labels[0]}
    token = next(e for e in c["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["optional"] is False
    assert {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"} in c["env"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}
    startup = c["startupProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 15 * 60   # loads take minutes
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
    svc = docs["Service"]["spec"]
    assert svc["ports"][0]["port"] == 9000 and svc["ports"][0]["targetPort"] == "http"
    assert svc["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name}
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "vllm:num_requests_waiting"
    assert "prometheus-adapter" in k8s(d)


def test_k8s_ungated_token_is_optional_and_unlabelled_gpu_has_no_selector() -> None:
    d = _dep(gpu=dataclasses.replace(catalog_gpu("H100-SXM-80GB"), gfd_labels=()))
    pod = _k8s_docs(d)["Deployment"]["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod
    token = next(e for e in pod["containers"][0]["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "No GPU Feature Discovery label" in k8s(d)


def test_yaml_output_is_deterministic() -> None:
    for d in cases().values():
        assert k8s(d) == k8s(d) and compose(d) == compose(d)


# ---------------------------------------------------------------- dispatcher

def test_emit_dispatches_every_form() -> None:
    d = cases()["tp4-gated"]
    assert emit(d, "vllm") == vllm_serve(d)
    assert emit(d, "docker") == docker_run(d)
    assert emit(d, "compose") == compose(d)
    assert emit(d, "k8s") == k8s(d)
    assert commands(d) == {f: emit(d, f) for f in FORMS}


def test_commands_only_leave_out_forms_that_do_not_apply() -> None:
    bad = _dep(gpu=catalog_gpu("MI300X-192GB"), args=_ARGS.with_(passthrough=(("--swap-space", "4"),)))
    with pytest.raises(PlannerError) as exc:
        commands(bad)                       # a real error is not hidden by leaving a form out
    assert exc.value.code == "unknown_flag"


def test_unknown_form_suggests_the_closest() -> None:
    with pytest.raises(PlannerError) as exc:
        emit(cases()["single-gpu"], "dokcer")
    assert exc.value.code == "emit_form" and "docker" in (exc.value.hint or "")
    with pytest.raises(PlannerError) as exc:
        emit(cases()["single-gpu"], "helm")
    assert "choose from" in (exc.value.hint or "") or "did you mean" in (exc.value.hint or "")
    with pytest.raises(PlannerError) as exc:
        emit(cases()["single-gpu"], "all")
    assert "folder" in exc.value.message


# ---------------------------------------------------------------- write_all

def _fake_bin(tmp_path: Path, name: str) -> Path:
    """An executable that records its argv (and HF_TOKEN's presence) as JSON, for running the scripts."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / name
    exe.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('VLLM_')}\n"
        "json.dump({'argv': sys.argv[1:], 'env': env}, open(os.environ['RECORD'], 'w'))\n",
        encoding="utf-8",
    )
    exe.chmod(0o755)
    return bindir


def test_write_all_writes_every_form(tmp_path: Path) -> None:
    d = cases()["awq-env"]
    paths = write_all(d, tmp_path / "out")
    assert [p.name for p in paths] == list(FILES)
    texts = render_all(d)
    for p in paths:
        assert p.read_text(encoding="utf-8") == texts[p.name]
        executable = bool(p.stat().st_mode & stat.S_IXUSR)
        assert executable == p.name.endswith(".sh")
        assert not p.stat().st_mode & 0o022 & os.umask(os.umask(0))     # the umask is honoured
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp folder left
    readme = texts["README.md"]
    assert vllm_serve(d) in readme and docker_run(d) in readme


@pytest.mark.parametrize(("script", "program"), [("serve.sh", "vllm"), ("docker-run.sh", "docker")])
def test_scripts_run_the_exact_command(script: str, program: str, tmp_path: Path) -> None:
    d = cases()["awq-env"]
    write_all(d, tmp_path / "out")
    record = tmp_path / "record.json"
    env = {"PATH": f"{_fake_bin(tmp_path, program)}:{os.environ['PATH']}", "RECORD": str(record),
           "HOME": str(tmp_path)}
    subprocess.run(["bash", str(tmp_path / "out" / script)], env=env, check=True, timeout=30, cwd=tmp_path)
    got = json.loads(record.read_text())
    if program == "vllm":
        assert got["argv"] == serve_argv(d, port=d.port)[1:]
        assert got["env"] == d.env
    else:
        # The shell expands `~` in the cache volume; everything else arrives exactly as planned.
        expected = shlex.split(docker_run(d, one_line=True))[1:]
        home = str(tmp_path)
        assert got["argv"] == [home + w[1:] if w.startswith("~/") else w for w in expected]


def test_gated_script_refuses_to_start_without_token(tmp_path: Path) -> None:
    d = cases()["tp4-gated"]
    write_all(d, tmp_path / "out")
    record = tmp_path / "record.json"
    env = {"PATH": f"{_fake_bin(tmp_path, 'vllm')}:{os.environ['PATH']}", "RECORD": str(record)}
    proc = subprocess.run(["bash", str(tmp_path / "out" / "serve.sh")], env=env, capture_output=True,
                          text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode != 0 and "HF_TOKEN must be set" in proc.stderr
    assert not record.exists()
    proc = subprocess.run(["bash", str(tmp_path / "out" / "serve.sh")], env={**env, "HF_TOKEN": SECRET},
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 0 and record.exists()


def test_write_all_leaves_out_forms_that_do_not_apply(tmp_path: Path) -> None:
    d = _dep(gpu=catalog_gpu("MI300X-192GB"))
    paths = write_all(d, tmp_path / "amd")
    # The container forms (and the HPA for the k8s Deployment) are left out; monitoring and the gateway apply.
    assert [p.name for p in paths] == ["serve.sh", "alerts.rules.yaml", "prometheus-rule.yaml",
                                       "grafana-dashboard.json", "litellm-config.yaml", "README.md"]
    readme = (tmp_path / "amd" / "README.md").read_text()
    assert vllm_serve(d) in readme
    assert "## Not written" in readme and "`k8s.yaml`: --emit k8s targets NVIDIA GPUs" in readme


def test_write_all_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    d = cases()["single-gpu"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(PlannerError) as exc:
        write_all(d, out)
    assert "not empty" in exc.value.message
    # Even when told to overwrite, a file vllm-planner did not write is never deleted.
    with pytest.raises(PlannerError) as exc:
        write_all(d, out, overwrite=True)
    assert "notes.txt" in exc.value.message
    assert (out / "notes.txt").read_text() == "mine"


def test_write_all_overwrites_its_own_output_and_fills_an_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_all(cases()["single-gpu"], out)                    # an empty folder is fine
    with pytest.raises(PlannerError):
        write_all(cases()["tp4-gated"], out)
    write_all(cases()["tp4-gated"], out, overwrite=True)
    assert (out / "k8s.yaml").read_text() == k8s(cases()["tp4-gated"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_all_refuses_a_file_and_leaves_nothing_on_error(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PlannerError):
        write_all(cases()["single-gpu"], tmp_path / "file")
    with pytest.raises(PlannerError):
        write_all(cases()["single-gpu"], tmp_path / "file" / "sub")    # parent is a file
    # A rendering error (a flag the target version lacks) happens before anything is written.
    with pytest.raises(PlannerError):
        write_all(_dep(args=_ARGS.with_(passthrough=(("--swap-space", "4"),))), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    # A disk error in the middle of writing leaves neither the folder nor a temporary one.
    real = Path.write_text
    calls = {"n": 0}

    def failing(self: Path, *a: object, **k: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(PlannerError) as exc:
        write_all(cases()["single-gpu"], tmp_path / "out")
    assert "No space left" in exc.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ---------------------------------------------------------------- healthchecks

class _Health:
    """A local /health endpoint (127.0.0.1, ephemeral port) answering with `status`."""

    def __init__(self) -> None:
        import http.server
        import threading

        owner = self
        self.status = 200

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(owner.status if self.path == "/health" else 404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def health() -> Iterator[_Health]:
    h = _Health()
    yield h
    h.close()


def test_healthchecks_pass_on_200_and_fail_otherwise(health: _Health, tmp_path: Path) -> None:
    d = cases()["single-gpu"]
    words = shlex.split(docker_run(d, one_line=True))
    # docker runs --health-cmd with `/bin/sh -c`; Compose runs the exec-form list as is.
    docker_cmd = ["/bin/sh", "-c", words[words.index("--health-cmd") + 1]]
    compose_cmd = yaml.safe_load(compose(d))["services"][d.name]["healthcheck"]["test"][1:]
    for cmd in (docker_cmd, compose_cmd):
        local = [w.replace("127.0.0.1:8000", f"127.0.0.1:{health.port}") for w in cmd]
        assert local != cmd
        health.status = 200
        assert subprocess.run(local, cwd=tmp_path, capture_output=True, timeout=30).returncode == 0
        health.status = 503
        assert subprocess.run(local, cwd=tmp_path, capture_output=True, timeout=30).returncode != 0


# ---------------------------------------------------------------- any plan: the forms agree

_engine_args = st.builds(
    EngineArgs,
    tensor_parallel_size=st.sampled_from([1, 2, 4]),
    pipeline_parallel_size=st.sampled_from([1, 2]),
    gpu_memory_utilization=st.floats(0.05, 1.0, allow_nan=False),
    max_model_len=st.integers(1, 2**20) | st.just(-1),
    max_num_seqs=st.integers(1, 2048),
    max_num_batched_tokens=st.none() | st.integers(1, 2**16),
    kv_cache_dtype=st.sampled_from(["auto", "fp8", "fp8_e4m3", "bfloat16"]),
    dtype=st.sampled_from(["auto", "bfloat16", "float16"]),
    enforce_eager=st.booleans(),
    enable_prefix_caching=st.none() | st.booleans(),
    quantization=st.none() | st.sampled_from(["awq_marlin", "gptq_marlin", "fp8"]),
)


@settings(max_examples=40, deadline=None)
@given(args=_engine_args, version=st.sampled_from(["0.32.0", "0.33.0"]), gated=st.booleans())
def test_every_form_carries_the_same_serve_words(args: EngineArgs, version: str, gated: bool) -> None:
    d = _dep(args=args, num_gpus=args.world_size, vllm_version=version, hf_token_required=gated)
    argv = serve_argv(d)
    docker = shlex.split(docker_run(d, one_line=True))
    pod = _k8s_docs(d)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    svc = yaml.safe_load(compose(d))["services"][d.name]
    assert shlex.split(vllm_serve(d, one_line=True)) == argv
    assert ["vllm", *docker[docker.index(d.image) + 1:]] == argv
    assert pod["command"] + pod["args"] == argv == svc["entrypoint"] + svc["command"]
    assert pod["resources"]["limits"]["nvidia.com/gpu"] == args.world_size
    for flag in _flag_words(argv):
        assert flag_exists(flag, version)
