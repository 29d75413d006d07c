"""What `planner perf` does not model about a deployment's parallel layout, said in words.

The step model (planner.performance.step_time) prices tensor parallelism's all-reduces and pipeline hand-offs,
inside a node over its links and across nodes over the catalog's inter-node network. It simulates one
engine. Data-parallel engines (each its own scheduler and KV cache, requests balanced between them) and
expert parallelism's token all-gather / reduce-scatter across the EP group are not modelled, and neither
is a multi-node layout on a GPU whose catalog entry has no inter-node bandwidth.
"""

from __future__ import annotations

from typing import Any


def not_modelled(est: Any) -> list[tuple[str, str]]:
    """(code, message) for each part of `est`'s layout whose performance the prediction leaves out."""
    out: list[tuple[str, str]] = []
    lay = getattr(est, "layout", None)
    if lay is None:
        return out
    gpu = est.gpu
    nodes = lay.nodes(gpu.gpus_per_node)
    if lay.dp > 1:
        out.append(("perf_dp_not_modelled", f"data parallelism is not modelled: the figures are those of one "
                    f"engine taking every request, not {lay.dp} engines sharing them"))
    if lay.use_ep:
        out.append(("perf_ep_not_modelled", f"expert parallelism's token exchange over {lay.ep_size} GPUs "
                    "(all-gather / reduce-scatter of every MoE layer) is not modelled"))
    if nodes > 1 and not gpu.internode_gbps:
        out.append(("perf_multinode_not_modelled", f"the layout spans {nodes} nodes and the GPU catalog has no "
                    f"inter-node bandwidth for {gpu.id}: the network between nodes is not modelled (hand-offs "
                    "are priced at the node's own links)"))
    return out
