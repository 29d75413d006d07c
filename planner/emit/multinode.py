"""A replica over several nodes: the command of every node, and a Kubernetes LeaderWorkerSet.

vLLM starts a multi-node replica in one of three ways, chosen here by the layout and the target release's
own flags (planner.release.vllm_flags):

* `dp`: data-parallel engines spread over the nodes (DP+EP for a MoE model, engines of TP x PP that fit a
  node). Every node runs `vllm serve` with `--data-parallel-size-local` engines; node 0 serves the API and
  the others join it with `--data-parallel-start-rank`, `--data-parallel-address`, `--data-parallel-rpc-port`
  and `--headless` (vllm/entrypoints/cli/serve.py run_headless; EngineArgs.create_engine_config derives the
  rank from the start rank). Releases 0.10.1 and later.
* `native`: one engine whose TP x PP ranks span the nodes, with vLLM's multiprocessing executor across
  nodes: `--nnodes N --node-rank R --master-addr HEAD` on every node, `--headless` on all but node 0
  (ParallelConfig.nnodes/node_rank/master_addr; run_headless starts the MultiprocExecutor's workers).
  Releases whose flag table has `--nnodes` (0.14 on).
* `ray`: the same engine on a Ray cluster for releases without `--nnodes`: `ray start --head` on node 0,
  `ray start --address` on the others, and `vllm serve ... --distributed-executor-backend ray` on node 0
  once the cluster holds every GPU (vLLM places one Ray bundle per GPU, vllm/v1/executor/ray_utils.py).

TP stays inside a node: ranks are numbered node by node, and a TP group of at most a node's GPUs that divides
them never straddles two nodes. The Kubernetes form is a LeaderWorkerSet (leaderworkerset.x-k8s.io/v1):
one group of `size` = nodes pods per replica, the leader (index 0) and the workers, each pod holding one
node's GPUs; LWS gives every pod LWS_LEADER_ADDRESS and LWS_WORKER_INDEX.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, replace
from typing import Any, Literal

from planner.emit.deployment import Deployment
from planner.emit.shell import (
    API_KEY_ENV,
    CONTAINER_HF_CACHE,
    HEALTH_START_PERIOD_S,
    VLLM_PORT,
    _flag_groups,
    _q,
    api_key_required,
    render,
    serve_argv,
)
from planner.errors import PlannerError
from planner.release.vllm_flags import flag_exists

Mode = Literal["dp", "native", "ray"]
# vLLM's defaults, stated so every node agrees: ParallelConfig.master_port (29501) and
# data_parallel_rpc_port (29550) in vllm/config/parallel.py (0.33.0); Ray's default GCS port (6379).
MASTER_PORT = 29501
DP_RPC_PORT = 29550
RAY_PORT = 6379
HEAD_VAR = "HEAD_ADDR"
# Environment variables LeaderWorkerSet sets in every pod of a group.
LWS_LEADER = "LWS_LEADER_ADDRESS"
LWS_INDEX = "LWS_WORKER_INDEX"
LWS_API = "leaderworkerset.x-k8s.io/v1"
HF_SECRET_NAME = "hf-token"
HF_SECRET_KEY = "token"
API_KEY_SECRET_NAME = "vllm-api-key"
API_KEY_SECRET_KEY = "key"


@dataclass(frozen=True)
class NodeLayout:
    nodes: int
    gpus_per_node: int
    mode: Mode
    engines_per_node: int = 1       # dp mode: --data-parallel-size-local


def node_layout(d: Deployment) -> NodeLayout:
    """How the replica is laid over nodes of `d.gpu.gpus_per_node` GPUs (PlannerError when vLLM cannot)."""
    a = d.args
    g = d.gpu.gpus_per_node
    nodes = -(-d.num_gpus // g)
    if d.num_gpus % nodes:
        raise PlannerError(f"{d.num_gpus} GPUs do not split evenly over {nodes} nodes of {g}",
                           code="emit_multi_node", hint="use a GPU count that is a multiple of the node count")
    per_node = d.num_gpus // nodes
    world = a.tensor_parallel_size * a.pipeline_parallel_size
    version = d.vllm_version
    if a.data_parallel_size > 1:
        if world > per_node or per_node % world:
            raise PlannerError(f"data-parallel engines of TP x PP = {world} GPUs do not tile nodes of {per_node}: "
                               "not emitted", code="emit_multi_node",
                               hint="engines of a node's GPUs or fewer, or one engine (no DP) across nodes")
        need = ("--data-parallel-size-local", "--data-parallel-start-rank", "--data-parallel-address",
                "--data-parallel-rpc-port", "--headless")
        missing = [f for f in need if not flag_exists(f, version)]
        if missing:
            raise PlannerError(f"vLLM {version} has no {missing[0]}: data parallelism across nodes is not emitted "
                               "for it", code="emit_multi_node", hint="target vLLM 0.10.1 or later")
        return NodeLayout(nodes=nodes, gpus_per_node=per_node, mode="dp", engines_per_node=per_node // world)
    if flag_exists("--nnodes", version) and flag_exists("--headless", version):
        return NodeLayout(nodes=nodes, gpus_per_node=per_node, mode="native")
    if not flag_exists("--distributed-executor-backend", version):
        raise PlannerError(f"vLLM {version} has neither --nnodes nor --distributed-executor-backend",
                           code="emit_multi_node")
    return NodeLayout(nodes=nodes, gpus_per_node=per_node, mode="ray")


def _base(d: Deployment, lay: NodeLayout) -> Deployment:
    """The deployment every node starts (dp mode: with this node's engine count stated)."""
    if lay.mode == "dp":
        return replace(d, args=d.args.with_(data_parallel_size_local=lay.engines_per_node))
    if lay.mode == "ray":
        extra = (*d.args.passthrough, ("--distributed-executor-backend", "ray"))
        return replace(d, args=d.args.with_(passthrough=extra))
    return d


def node_flags(lay: NodeLayout, rank: int, head: str, *, start_rank: str | None = None) -> list[list[str]]:
    """The per-node options (one group per option) for node `rank`; `head` is the head's address word."""
    if lay.mode == "native":
        out = [["--nnodes", str(lay.nodes)], ["--node-rank", str(rank) if start_rank is None else start_rank],
               ["--master-addr", head], ["--master-port", str(MASTER_PORT)]]
        return out + ([["--headless"]] if rank else [])
    if lay.mode == "dp":
        first = str(rank * lay.engines_per_node) if start_rank is None else start_rank
        out = [["--data-parallel-address", head], ["--data-parallel-rpc-port", str(DP_RPC_PORT)]]
        return ([["--data-parallel-start-rank", first], *out, ["--headless"]] if rank else out)
    return []


@dataclass(frozen=True)
class NodeCommand:
    rank: int
    role: str            # "head" | "worker"
    text: str            # shell text, ready to paste (env prefixes, continuation lines)


def _serve_lines(d: Deployment, lay: NodeLayout, rank: int, head: str, *, one_line: bool) -> str:
    base = _base(d, lay)
    argv = serve_argv(base, port=d.port)
    env_head = [[f"{k}={shlex.quote(v)}"] for k, v in sorted(d.env.items())]
    body = [_q(g) for g in _flag_groups(argv[3:])]
    if api_key_required(d) and rank == 0:
        body.append(["--api-key", f'"${API_KEY_ENV}"'])
    body += node_flags(lay, rank, head)
    return render([*env_head, _q(argv[:3])], body, one_line=one_line)


def _ray_wait(total_gpus: int) -> str:
    # Python, not `ray status` text: the cluster's GPU count as Ray itself reports it.
    probe = ("import ray, sys; ray.init(address='auto', logging_level='ERROR'); "
             f"sys.exit(0 if ray.cluster_resources().get('GPU', 0) >= {total_gpus} else 1)")
    return f'until python3 -c "{probe}"; do sleep 5; done'


def node_commands(d: Deployment, *, one_line: bool = False) -> list[NodeCommand]:
    """The command of every node, node 0 (the head, serving the API) first."""
    lay = node_layout(d)
    head = f'"${HEAD_VAR}"'
    out: list[NodeCommand] = []
    for rank in range(lay.nodes):
        role = "head" if rank == 0 else "worker"
        if lay.mode == "ray":
            if rank == 0:
                text = "\n".join([f"ray start --head --port={RAY_PORT}", _ray_wait(d.num_gpus),
                                  _serve_lines(d, lay, 0, head, one_line=one_line)])
            else:
                text = f'ray start --address="${HEAD_VAR}:{RAY_PORT}" --block'
        else:
            text = _serve_lines(d, lay, rank, head, one_line=one_line)
        out.append(NodeCommand(rank=rank, role=role, text=text))
    return out


def _what(d: Deployment, lay: NodeLayout) -> str:
    a = d.args
    par = f"TP {a.tensor_parallel_size} x PP {a.pipeline_parallel_size}" + (
        f" x DP {a.data_parallel_size}" if a.data_parallel_size > 1 else "") + (
        " with expert parallelism" if a.enable_expert_parallel else "")
    how = {"dp": f"{lay.engines_per_node} data-parallel engine(s) per node",
           "native": "the multiprocessing executor of vLLM across nodes (--nnodes)",
           "ray": "a Ray cluster (--distributed-executor-backend ray)"}[lay.mode]
    return f"{d.num_gpus} x {d.gpu.id} on {lay.nodes} nodes of {lay.gpus_per_node} ({par}); {how}"


def vllm_nodes(d: Deployment, *, one_line: bool = False) -> str:
    """`--emit vllm` of a multi-node plan: every node's command under a comment naming the node."""
    lay = node_layout(d)
    parts = [f"# {_what(d, lay)}. vLLM {d.vllm_version}.",
             f"# On every node set {HEAD_VAR} to the address of node 0 (reachable from the others); the API is "
             f"served by node 0 on port {d.port}.",
             "# Multi-node NCCL/Gloo may need NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME set to the network "
             "interface of the nodes."]
    for nc in node_commands(d, one_line=one_line):
        parts += ["", f"# node {nc.rank} ({'head' if nc.role == 'head' else 'worker'})", nc.text]
    return "\n".join(parts)


def node_scripts(d: Deployment) -> dict[str, str]:
    """node-<rank>.sh for `--emit all`: each refuses to start without HEAD_ADDR (and a gated model's token)."""
    lay = node_layout(d)
    out: dict[str, str] = {}
    for nc in node_commands(d):
        guard = f': "${{{HEAD_VAR}:?set {HEAD_VAR} to the address of node 0}}"\n'
        if d.hf_token_required and (nc.role == "head" or lay.mode != "ray"):
            guard += ': "${HF_TOKEN:?HF_TOKEN must be set: the model is gated}"\n'
        out[f"node-{nc.rank}.sh"] = (f"#!/usr/bin/env bash\n# Generated by vllm-planner: node {nc.rank} of "
                                     f"{lay.nodes} ({nc.role}). {_what(d, lay)}.\nset -euo pipefail\n"
                                     f"{guard}{nc.text}\n")
    return out


# ----------------------------------------------------------------------------------------------------------
# Kubernetes: LeaderWorkerSet


def _lit(text: str) -> str:
    """A plan value as the kubelet must see it to pass it on unchanged ($(VAR) is expanded in args)."""
    return text.replace("$", "$$")


def _env(d: Deployment, *, leader: bool) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HF_SECRET_NAME, "key": HF_SECRET_KEY,
                                                            "optional": not d.hf_token_required}}},
        *({"name": k, "value": _lit(v)} for k, v in sorted(d.env.items())),
    ]
    if leader and api_key_required(d):
        env.append({"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET_NAME,
                                                                          "key": API_KEY_SECRET_KEY}}})
    return env


def _lws_args(d: Deployment, lay: NodeLayout, leader: bool) -> tuple[list[str], list[str]]:
    """(command, args) of the leader or worker container."""
    base = _base(d, lay)
    serve = [_lit(w) for w in serve_argv(base)[2:]]
    head = f"$({LWS_LEADER})"
    if lay.mode == "native":
        flags = [w for g in node_flags(lay, 0 if leader else 1, head,
                                       start_rank=None if leader else f"$({LWS_INDEX})") for w in g]
        return ["vllm", "serve"], serve + flags
    if lay.mode == "dp":
        if leader:
            return ["vllm", "serve"], serve + [w for g in node_flags(lay, 0, head) for w in g]
        # The start rank is this pod's index x engines per node: shell arithmetic, so a shell runs the worker.
        flags = [w for g in node_flags(lay, 1, '"$LWS_LEADER_ADDRESS"',
                                       start_rank=f'"$(({LWS_INDEX} * {lay.engines_per_node}))"') for w in g]
        words = ["exec", "vllm", "serve", *(shlex.quote(w) for w in serve_argv(base)[2:]), *flags]
        return ["sh", "-c"], [_lit_script(" ".join(words))]
    # ray
    if leader:
        script = "; ".join([f"ray start --head --port={RAY_PORT}", _ray_wait(d.num_gpus),
                            "exec " + " ".join(shlex.quote(w) for w in serve_argv(base))])
        return ["sh", "-c"], [_lit_script(script)]
    return ["sh", "-c"], [_lit_script(f'exec ray start --address="${LWS_LEADER}:{RAY_PORT}" --block')]


def _lit_script(script: str) -> str:
    # Shell `$` (variables, arithmetic) must reach the shell: the kubelet would expand `$(NAME)` itself.
    return script.replace("$", "$$")


def _container(d: Deployment, lay: NodeLayout, *, leader: bool) -> dict[str, Any]:
    command, args = _lws_args(d, lay, leader)
    gpus = {"nvidia.com/gpu": lay.gpus_per_node}
    c: dict[str, Any] = {
        "name": "vllm-leader" if leader else "vllm-worker",
        "image": d.image,
        "command": command,
        "args": args,
        "env": _env(d, leader=leader),
        "resources": {"limits": dict(gpus), "requests": dict(gpus)},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"},
                         {"name": "hf-cache", "mountPath": CONTAINER_HF_CACHE}],
    }
    if leader:
        c["ports"] = [{"name": "http", "containerPort": VLLM_PORT, "protocol": "TCP"}]
        def probe(period: int, failures: int) -> dict[str, Any]:
            # A new dict each time: yaml.safe_dump would write a shared one as an anchor and aliases.
            return {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": period, "timeoutSeconds": 5,
                    "failureThreshold": failures}

        # The leader answers /health once every node's ranks have loaded: minutes, the first time hours.
        c["startupProbe"] = probe(10, HEALTH_START_PERIOD_S // 10)
        c["readinessProbe"] = probe(5, 3)
        c["livenessProbe"] = probe(10, 6)
    return c


def _pod_template(d: Deployment, lay: NodeLayout, *, leader: bool) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": d.name, "role": "leader" if leader else "worker"}
    spec: dict[str, Any] = {}
    if d.gpu.gfd_labels:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": d.gpu.gfd_labels[0]}
    spec["containers"] = [_container(d, lay, leader=leader)]
    spec["volumes"] = [
        # NCCL and PyTorch workers share memory through /dev/shm; the container default is 64 MB.
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        {"name": "hf-cache", "emptyDir": {}},
    ]
    return {"metadata": {"labels": labels}, "spec": spec}


def lws_object(d: Deployment) -> dict[str, Any]:
    """The LeaderWorkerSet as a dict: one group of `nodes` pods (size), one pod per node."""
    lay = node_layout(d)
    return {
        "apiVersion": LWS_API,
        "kind": "LeaderWorkerSet",
        "metadata": {"name": d.name, "labels": {"app.kubernetes.io/name": d.name}},
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": lay.nodes,
                # One pod failing breaks the replica's collective groups: restart the whole group.
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": _pod_template(d, lay, leader=True),
                "workerTemplate": _pod_template(d, lay, leader=False),
            },
            # Workers are created once the leader pod exists; they reach it by LWS_LEADER_ADDRESS.
            "startupPolicy": "LeaderCreated",
        },
    }


def lws(d: Deployment) -> str:
    """`--emit k8s` of a multi-node plan: the LeaderWorkerSet alone (one YAML document)."""
    import yaml  # noqa: PLC0415 - yaml only for the manifest forms

    if d.gpu.vendor != "nvidia":
        raise PlannerError(f"--emit k8s targets NVIDIA GPUs; {d.gpu.id} is a {d.gpu.vendor} device",
                           code="emit_unsupported_gpu", hint="use --emit vllm (a command per node)")
    lay = node_layout(d)
    header = [
        f"# vLLM {d.vllm_version}: {_what(d, lay)}.",
        f"# Model: {json.dumps(d.model)}. Generated by vllm-planner.",
        "# Needs the LeaderWorkerSet controller (https://github.com/kubernetes-sigs/lws): one group of "
        f"{lay.nodes} pods per replica,",
        f"# one pod per node. The leader serves the API on port {VLLM_PORT}: expose it with a Service selecting",
        f"# leaderworkerset.sigs.k8s.io/name={d.name} and role=leader.",
        f'# HF_TOKEN comes from a Secret: kubectl create secret generic {HF_SECRET_NAME} '
        f'--from-literal={HF_SECRET_KEY}="$HF_TOKEN"',
    ]
    if d.gpu.gfd_labels:
        header.append(f"# Pods run on nodes labelled nvidia.com/gpu.product={d.gpu.gfd_labels[0]} "
                      "(GPU Feature Discovery).")
    body = yaml.safe_dump(lws_object(d), sort_keys=False, default_flow_style=False, width=2**20)
    return "\n".join(header) + "\n" + body
