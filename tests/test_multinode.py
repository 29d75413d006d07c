"""Replicas beyond one node: the two-node plans, every node's command, the LeaderWorkerSet (validated against
the CRD's schema, tests/data/lws), `--emit k8s` / `--emit all`, `planner check` reading what plan wrote, and
the performance model's network term."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource
from typer.testing import CliRunner

import gpu_catalog
from planner.cli import app
from planner.emit import Deployment, emit, is_multinode, lws, node_commands, node_layout, render_all
from planner.errors import PlannerError
from planner.memory.quant import NONE
from planner.memory.spec import model_spec_from_config
from planner.performance.calibration import DEFAULT
from planner.performance.step_time import Regime, hardware, model_cost, step_time
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv, split_command

DATA = Path(__file__).parent / "data" / "lws"
runner = CliRunner()
H100 = gpu_catalog.resolve("H100")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("VLLM_PLANNER_GPU_CATALOG", raising=False)


def plan(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["plan", *args, "--offline"])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def plan_json(*args: str) -> dict:
    code, out, err = plan(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def _validator(k8s_version: str) -> jsonschema.Draft202012Validator:
    """The LWS schema with Kubernetes' own (strict) PodTemplateSpec of `k8s_version` for the pod templates."""
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{k8s_version}-local-strict"
    defs = json.loads((base / "_definitions.json").read_text())
    registry = Registry().with_resource(defs["$id"], Resource.from_contents(defs))
    return jsonschema.Draft202012Validator(json.loads((DATA / "leaderworkerset-v1.schema.json").read_text()),
                                           registry=registry)


K8S_VERSIONS = [kv_utils.all_versions()[0], kv_utils.latest_version()]
ARGS = EngineArgs(tensor_parallel_size=8, pipeline_parallel_size=2, gpu_memory_utilization=0.95,
                  max_model_len=32768, max_num_seqs=256)


def _dep(args: EngineArgs = ARGS, *, version: str = "0.33.0", gated: bool = False, **kw: object) -> Deployment:
    count = args.tensor_parallel_size * args.pipeline_parallel_size * args.data_parallel_size
    return Deployment(model="meta-llama/Llama-3.1-405B-Instruct", args=args, vllm_version=version, gpu=H100,
                      num_gpus=count, hf_token_required=gated, **kw)  # type: ignore[arg-type]


DEPLOYMENTS = {
    "tp8-pp2": _dep(),
    "dp16-ep": _dep(EngineArgs(tensor_parallel_size=1, data_parallel_size=16, enable_expert_parallel=True,
                               gpu_memory_utilization=0.95, max_model_len=32768, max_num_seqs=256)),
    "tp8-pp2-ray": _dep(version="0.11.0"),
    "tp8-pp4-gated": _dep(ARGS.with_(pipeline_parallel_size=4), gated=True, env={"VLLM_LOGGING_LEVEL": "DEBUG"}),
}


# ---------------------------------------------------------------------------------------------------------
# plan beyond one node


@pytest.mark.parametrize(("model", "layouts"), [
    ("deepseek-r1", {(8, 2, 1), (8, 1, 2), (1, 1, 16)}),      # TP 8 x PP 2, or DP+EP over the 16 GPUs
    ("llama-3.1-405b", {(8, 2, 1)}),
])
def test_two_node_plans_on_h100(model: str, layouts: set[tuple[int, int, int]]) -> None:
    doc = plan_json(model, "--gpu", "H100")
    top = doc["plans"][0]
    assert top["nodes"] == 2 and top["gpus_per_node"] == 8
    assert top["count"] == 16 == top["tensor_parallel_size"] * top["pipeline_parallel_size"] * \
        top["data_parallel_size"]
    assert (top["tensor_parallel_size"], top["pipeline_parallel_size"], top["data_parallel_size"]) in layouts
    assert doc["gpu"]["count"] == 16 and doc["parallel"]["nodes"] == 2
    # TP stays inside a node
    assert all(p["tensor_parallel_size"] <= 8 for p in doc["plans"])
    assert {"vllm", "k8s", "node-0", "node-1"} <= set(doc["commands"])
    assert "docker" not in doc["commands"] and "compose" not in doc["commands"]
    lws_doc = yaml.safe_load(doc["commands"]["k8s"])
    assert lws_doc["kind"] == "LeaderWorkerSet" and lws_doc["spec"]["leaderWorkerTemplate"]["size"] == 2


def test_plan_report_names_the_nodes() -> None:
    code, out, _ = plan("llama-3.1-405b", "--gpu", "H100")
    assert code == 0
    assert "16 x H100-SXM-80GB on 2 nodes of 8 (TP 8 x PP 2)" in out
    assert "# node 0 (head)" in out and "# node 1 (worker)" in out


def test_num_gpus_beyond_a_node_keeps_tp_inside_it() -> None:
    doc = plan_json("llama-3.1-405b", "--gpu", "H100", "--num-gpus", "16")
    assert all(p["tensor_parallel_size"] <= 8 and p["nodes"] == 2 for p in doc["plans"])


def test_max_gpus_bounds_the_node_search() -> None:
    code, out, _ = plan("llama-3.1-405b", "--gpu", "H100", "--max-gpus", "8", "--json")
    assert code == 1 and json.loads(out)["plans"] == []


# ---------------------------------------------------------------------------------------------------------
# node commands


def _argv(text: str) -> list[str]:
    words = split_command(text.replace('"$HEAD_ADDR"', "10.0.0.1"))
    return words


@pytest.mark.parametrize("name", ["tp8-pp2", "dp16-ep", "tp8-pp4-gated"])
def test_node_commands_parse_and_differ_only_in_node_flags(name: str) -> None:
    d = DEPLOYMENTS[name]
    lay = node_layout(d)
    cmds = node_commands(d)
    assert [c.rank for c in cmds] == list(range(lay.nodes)) and cmds[0].role == "head"
    parsed = [parse_serve_argv(_argv(c.text), version=d.vllm_version) for c in cmds]
    assert all(f.status == "ok" for p in parsed for f in p.flags)
    per_node = {"--nnodes", "--node-rank", "--master-addr", "--master-port", "--headless",
                "--data-parallel-start-rank", "--data-parallel-address", "--data-parallel-rpc-port"}
    engine = [{(f.spelling, f.value) for f in p.flags if f.spelling not in per_node} for p in parsed]
    assert all(e == engine[0] for e in engine)
    assert all(p.args.with_(passthrough=()) == parsed[0].args.with_(passthrough=()) for p in parsed)
    for c, p in zip(cmds, parsed, strict=True):
        headless = any(f.spelling == "--headless" for f in p.flags)
        assert headless == (c.rank > 0)
    if lay.mode == "native":
        ranks = [dict(p.args.passthrough)["--node-rank"] for p in parsed]
        assert ranks == [str(r) for r in range(lay.nodes)]
        assert all(dict(p.args.passthrough)["--nnodes"] == str(lay.nodes) for p in parsed)
    else:
        assert lay.mode == "dp" and lay.engines_per_node == 8
        assert all(p.args.data_parallel_size_local == 8 for p in parsed)
        starts = [dict(p.args.passthrough).get("--data-parallel-start-rank") for p in parsed]
        assert starts == [None, "8"]


def test_old_release_uses_a_ray_cluster() -> None:
    d = DEPLOYMENTS["tp8-pp2-ray"]
    assert node_layout(d).mode == "ray"
    head, worker = node_commands(d)
    assert head.text.startswith("ray start --head --port=6379\n")
    serve = head.text.split("\n", 2)[2]
    parsed = parse_serve_argv(split_command(serve), version="0.11.0")
    assert dict(parsed.args.passthrough)["--distributed-executor-backend"] == "ray"
    assert "GPU" in head.text and ">= 16" in head.text          # waits for the whole cluster
    assert worker.text == 'ray start --address="$HEAD_ADDR:6379" --block'


def test_single_node_plans_are_not_multinode() -> None:
    d = _dep(ARGS.with_(pipeline_parallel_size=1))
    assert not is_multinode(d)
    assert yaml.safe_load_all(emit(d, "k8s")).__next__()["kind"] == "Deployment"


def test_dp_engines_that_do_not_tile_a_node_are_refused() -> None:
    d = _dep(EngineArgs(tensor_parallel_size=4, data_parallel_size=3, gpu_memory_utilization=0.9,
                        max_model_len=4096, max_num_seqs=8))
    with pytest.raises(PlannerError) as exc:
        node_layout(d)
    assert exc.value.code == "emit_multi_node"


# ---------------------------------------------------------------------------------------------------------
# LeaderWorkerSet


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_lws_validates_against_the_crd_schema(name: str, version: str) -> None:
    d = DEPLOYMENTS[name]
    text = lws(d)
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 1
    doc = docs[0]
    _validator(version).validate(doc)
    lay = node_layout(d)
    tmpl = doc["spec"]["leaderWorkerTemplate"]
    assert tmpl["size"] == lay.nodes
    for role in ("leaderTemplate", "workerTemplate"):
        c = tmpl[role]["spec"]["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == lay.gpus_per_node
        assert tmpl[role]["spec"]["volumes"][0] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
        assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
        assert "HF_TOKEN" in {e["name"] for e in c["env"]}
    assert "hf_" not in text.lower().replace("hf_token", "")


def test_the_lws_validator_is_not_vacuous() -> None:
    doc = yaml.safe_load(lws(DEPLOYMENTS["tp8-pp2"]))
    v = _validator(K8S_VERSIONS[-1])
    bad = json.loads(json.dumps(doc))
    bad["spec"]["leaderWorkerTemplate"]["sizes"] = 2
    assert list(v.iter_errors(bad))
    bad = json.loads(json.dumps(doc))
    bad["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["readinessprobe"] = {}
    assert list(v.iter_errors(bad))
    bad = json.loads(json.dumps(doc))
    bad["spec"]["leaderWorkerTemplate"]["size"] = 0
    assert list(v.iter_errors(bad))
    bad = json.loads(json.dumps(doc))
    del bad["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    assert list(v.iter_errors(bad))


def test_lws_bootstrap_words() -> None:
    tmpl = yaml.safe_load(lws(DEPLOYMENTS["tp8-pp2"]))["spec"]["leaderWorkerTemplate"]
    leader = tmpl["leaderTemplate"]["spec"]["containers"][0]
    worker = tmpl["workerTemplate"]["spec"]["containers"][0]
    assert leader["command"] == worker["command"] == ["vllm", "serve"]
    assert leader["args"][leader["args"].index("--master-addr") + 1] == "$(LWS_LEADER_ADDRESS)"
    assert worker["args"][worker["args"].index("--node-rank") + 1] == "$(LWS_WORKER_INDEX)"
    assert "--headless" in worker["args"] and "--headless" not in leader["args"]
    assert "readinessProbe" in leader and "readinessProbe" not in worker
    dp = yaml.safe_load(lws(DEPLOYMENTS["dp16-ep"]))["spec"]["leaderWorkerTemplate"]
    script = dp["workerTemplate"]["spec"]["containers"][0]["args"][0]
    # the kubelet turns $$ into $: the shell computes the start rank from the pod's index
    assert '--data-parallel-start-rank "$$((LWS_WORKER_INDEX * 8))"' in script


def test_emit_k8s_of_a_multinode_plan_prints_the_lws_alone() -> None:
    code, out, err = plan("llama-3.1-405b", "--gpu", "H100", "--emit", "k8s")
    assert code == 0
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    assert len(docs) == 1 and docs[0]["kind"] == "LeaderWorkerSet"
    assert docs[0]["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert "Plan 1" in err and "Plan 1" not in out


def test_emit_all_writes_node_scripts_and_the_lws(tmp_path: Path) -> None:
    out_dir = tmp_path / "deploy"
    code, _, err = plan("llama-3.1-405b", "--gpu", "H100", "--emit", "all", "--out", str(out_dir))
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["README.md", "k8s.yaml", "node-0.sh", "node-1.sh"]
    for name in ("node-0.sh", "node-1.sh"):
        assert os.access(out_dir / name, os.X_OK)
        if shutil.which("bash"):
            subprocess.run(["bash", "-n", str(out_dir / name)], check=True)
    assert 'HEAD_ADDR:?' in (out_dir / "node-1.sh").read_text()
    assert yaml.safe_load((out_dir / "k8s.yaml").read_text())["kind"] == "LeaderWorkerSet"
    # a second run does not write over the folder
    code, _, err = plan("llama-3.1-405b", "--gpu", "H100", "--emit", "all", "--out", str(out_dir))
    assert code == 2 and "not empty" in err


def test_render_all_of_a_gated_model_guards_the_token() -> None:
    files = render_all(DEPLOYMENTS["tp8-pp4-gated"])
    assert sorted(files) == ["README.md", "k8s.yaml", "node-0.sh", "node-1.sh", "node-2.sh", "node-3.sh"]
    assert all("HF_TOKEN:?" in files[f"node-{i}.sh"] for i in range(4))
    assert "VLLM_LOGGING_LEVEL=DEBUG" in files["node-2.sh"]


# ---------------------------------------------------------------------------------------------------------
# check reads what plan emits


@pytest.mark.parametrize("name", ["tp8-pp2", "dp16-ep"])
def test_check_reads_the_lws(name: str, tmp_path: Path) -> None:
    path = tmp_path / "lws.yaml"
    path.write_text(lws(DEPLOYMENTS[name]))
    r = runner.invoke(app, ["check", str(path), "--format", "json"])
    doc = json.loads(r.stdout)
    inv = doc["files"][0]["invocations"]
    assert len(inv) == 1 and inv[0]["model"] == "meta-llama/Llama-3.1-405B-Instruct"
    assert inv[0]["gpu_count"] == 8 and inv[0]["gpu"] == "NVIDIA-H100-80GB-HBM3"
    rules = {f["rule"] for f in doc["files"][0]["findings"]}
    assert "parallel-gpu-mismatch" not in rules and "value-dynamic" not in rules


def test_check_reads_plans_own_lws(tmp_path: Path) -> None:
    code, out, _ = plan("deepseek-r1", "--gpu", "H100", "--emit", "k8s")
    assert code == 0
    path = tmp_path / "k8s.yaml"
    path.write_text(out)
    r = runner.invoke(app, ["check", str(path)])
    assert r.exit_code == 0, r.stdout
    assert "0 error(s)" in r.stdout


def test_check_flags_an_lws_with_too_few_pods(tmp_path: Path) -> None:
    doc = yaml.safe_load(lws(DEPLOYMENTS["tp8-pp2"]))
    doc["spec"]["leaderWorkerTemplate"]["size"] = 1
    path = tmp_path / "lws.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = runner.invoke(app, ["check", str(path), "--format", "json"])
    rules = {f["rule"] for f in json.loads(r.stdout)["files"][0]["findings"]}
    assert "parallel-gpu-mismatch" in rules


# ---------------------------------------------------------------------------------------------------------
# performance: the network between nodes


def test_pipeline_handoff_across_nodes_costs_the_network() -> None:
    cfg = json.loads((Path(__file__).resolve().parent / "data" / "validation" / "model-configs"
                      / "meta-llama__Llama-3.1-405B.json").read_text())
    spec = model_spec_from_config(cfg)
    hw = hardware(H100, NONE)
    assert hw.net_bw == 400e9 / 8                       # DGX H100: one 400 Gb/s NIC per GPU (catalog)
    reg = Regime(step_overhead_s=0.0, per_seq_overhead_s=0.0, eager=False)
    one = model_cost(spec, NONE, tp=8, pp=2, act_bytes=2, kv_bytes=2, nodes=1)
    two = model_cost(spec, NONE, tp=8, pp=2, act_bytes=2, kv_bytes=2, nodes=2)
    kw = {"num_decode": 0, "decode_ctx": 0, "prefill_tokens": 8192, "prefill_pairs": 8192 * 4096.0}
    t1, t2 = step_time(one, hw, DEFAULT, reg, **kw), step_time(two, hw, DEFAULT, reg, **kw)
    assert t2.communication > t1.communication
    handoff = 8192 * spec.hidden_size * 2
    tp_part = t1.communication - handoff / (hw.link_bw * DEFAULT.link_efficiency)
    from planner.performance.step_time import INTERNODE_LATENCY_S

    assert t2.communication == pytest.approx(tp_part + INTERNODE_LATENCY_S
                                             + handoff / (hw.net_bw * DEFAULT.link_efficiency))


def test_perf_says_what_it_does_not_model() -> None:
    r = runner.invoke(app, ["perf", "--gpu", "H200", "--offline", "--num-prompts", "8", "--json", "--",
                            "vllm", "serve", "deepseek-ai/DeepSeek-R1-0528", "-dp", "8", "--enable-expert-parallel",
                            "--max-model-len", "8192"])
    assert r.exit_code == 0, r.output
    codes = {w["code"] for w in json.loads(r.stdout)["estimate"]["warnings"]}
    assert {"perf_dp_not_modelled", "perf_ep_not_modelled"} <= codes
    r = runner.invoke(app, ["perf", "--gpu", "L40S", "--offline", "--num-prompts", "8", "--json", "--",
                            "vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct", "-tp", "8", "-pp", "2",
                            "--max-model-len", "8192"])
    assert r.exit_code == 0, r.output
    codes = {w["code"] for w in json.loads(r.stdout)["estimate"]["warnings"]}
    assert "perf_multinode_not_modelled" in codes


def test_shell_words_of_node_scripts_are_quoted() -> None:
    d = _dep(served_model_name="a b;$(id)")
    for c in node_commands(d):
        words = shlex.split(c.text.replace('"$HEAD_ADDR"', "h"))
        assert "a b;$(id)" in words
