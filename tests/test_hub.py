"""planner.sourcing.hub against the real huggingface_hub client and a fake Hub on loopback (tests/fakehub.py).

How the client is pointed at the fake Hub: huggingface_hub reads HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE,
HF_HUB_ETAG_TIMEOUT, ... into `huggingface_hub.constants` once, when that module is first imported.
The `hf` fixture sets the variables with monkeypatch and then reloads `huggingface_hub.constants`
(planner.sourcing.hub reads every setting from that module at call time and builds its own HfApi per call),
and reloads it again after the test with the environment restored. Tests that change a variable
mid-test do the same through `setenv`. The end-to-end CLI tests run `planner` in a fresh process
with the variables set at start, the way a user runs it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported here, at collection, so that the client's log handler binds to the session's stderr and not
# to the (later closed) capture of whichever test would import it first.
import huggingface_hub.file_download  # noqa: F401
import numpy as np
import pytest
from fakehub import DTYPE_BYTES, FakeHub, Fault, running_hub, write_sparse_safetensors
from safetensors.numpy import save_file

from planner.errors import PlannerError
from planner.sourcing import hub as phub
from planner.sourcing.loader import LoadedModel, catalog_suggest, from_catalog, load_model

ROOT = Path(__file__).resolve().parents[1]
REF_CONFIGS = ROOT / "tests" / "data" / "validation" / "model-configs"   # copy of ../shared/reference/model-configs

TINY = "acme/tiny-llama"
TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "vocab_size": 256, "max_position_embeddings": 512,
    "torch_dtype": "bfloat16", "tie_word_embeddings": False,
}
Tensor = tuple[str, str, tuple[int, ...]]   # (name, safetensors dtype, shape)
HF_VARS = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE",
           "TRANSFORMERS_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT", "HF_TOKEN_PATH",
           "PLANNER_HUB_TIMEOUT", "PLANNER_HUB_CACHE_TTL", "HF_HUB_DISABLE_PROGRESS_BARS")


def _reload_constants() -> None:
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)


def setenv(mp: pytest.MonkeyPatch, **values: str | None) -> None:
    """Set (or, with None, unset) variables and make huggingface_hub see them."""
    for k, v in values.items():
        if v is None:
            mp.delenv(k, raising=False)
        else:
            mp.setenv(k, v)
    _reload_constants()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    with running_hub(tmp_path / "hub-root") as h:
        yield h


@pytest.fixture
def hf(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The client pointed at `hub`, with an empty HF_HOME; yields HF_HOME."""
    home = tmp_path / "hf-home"
    for k in HF_VARS:
        monkeypatch.delenv(k, raising=False)
    setenv(monkeypatch, HF_ENDPOINT=hub.url, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1")
    yield home
    monkeypatch.undo()
    _reload_constants()


# --- test repos ---------------------------------------------------------------------------------
def tiny_arrays() -> dict[str, np.ndarray]:
    """Real tensors of a 2-layer Llama-shaped model (float16: numpy has no bfloat16)."""
    c = TINY_CONFIG
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {"model.embed_tokens.weight": rng.standard_normal((v, h)).astype(np.float16),
                                  "model.norm.weight": np.ones(h, np.float16),
                                  "lm_head.weight": rng.standard_normal((v, h)).astype(np.float16)}
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for name, shape in (("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (kv, h)),
                            ("self_attn.v_proj", (kv, h)), ("self_attn.o_proj", (h, h)),
                            ("mlp.gate_proj", (i, h)), ("mlp.up_proj", (i, h)), ("mlp.down_proj", (h, i))):
            out[p + name + ".weight"] = rng.standard_normal(shape).astype(np.float16)
        out[p + "input_layernorm.weight"] = np.ones(h, np.float16)
        out[p + "post_attention_layernorm.weight"] = np.ones(h, np.float16)
    return out


def tiny_files(tmp: Path, config: dict[str, Any] | None = None) -> dict[str, Any]:
    st = tmp / f"tiny-{time.monotonic_ns()}.safetensors"
    save_file(tiny_arrays(), str(st), metadata={"format": "pt"})
    return {"config.json": config or TINY_CONFIG, "model.safetensors": st, "README.md": "tiny\n",
            "tokenizer.json": "{}"}


def llama_checkpoint_tensors(cfg: dict[str, Any]) -> list[Tensor]:
    """Tensor names and shapes of a Hugging Face Llama checkpoint (as in meta-llama/Llama-3.1-8B-Instruct's
    model.safetensors.index.json): BF16, untied lm_head, no biases."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    out: list[Tensor] = [("model.embed_tokens.weight", "BF16", (v, h))]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for name, shape in (("self_attn.q_proj", (q, h)), ("self_attn.k_proj", (kv, h)),
                            ("self_attn.v_proj", (kv, h)), ("self_attn.o_proj", (h, q)),
                            ("mlp.gate_proj", (i, h)), ("mlp.up_proj", (i, h)), ("mlp.down_proj", (h, i)),
                            ("input_layernorm", (h,)), ("post_attention_layernorm", (h,))):
            out.append((p + name + ".weight", "BF16", shape))
    out += [("model.norm.weight", "BF16", (h,)), ("lm_head.weight", "BF16", (v, h))]
    return out


def sharded_files(cfg: dict[str, Any], n_shards: int) -> tuple[dict[str, Any], list[Tensor]]:
    """config.json + index + `n_shards` sparse shards (real headers, zero data) for a Llama config."""
    tensors = llama_checkpoint_tensors(cfg)
    per = -(-len(tensors) // n_shards)
    files: dict[str, Any] = {"config.json": cfg}
    weight_map: dict[str, str] = {}
    total = 0
    for k in range(n_shards):
        chunk = tensors[k * per:(k + 1) * per]
        name = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        files[name] = lambda p, chunk=chunk: write_sparse_safetensors(p, chunk, {"format": "pt"})
        for t in chunk:
            weight_map[t[0]] = name
            total += nbytes(t[1], t[2])
    files["model.safetensors.index.json"] = {"metadata": {"total_size": total}, "weight_map": weight_map}
    return files, tensors


def nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    n = DTYPE_BYTES[dtype]
    for d in shape:
        n *= d
    return n


def ref_config(name: str) -> dict[str, Any]:
    return json.loads((REF_CONFIGS / name).read_text())


def catalog_hit(repo_id: str) -> Any:
    model_catalog = pytest.importorskip("model_catalog")
    try:
        hit = model_catalog.lookup(repo_id)
    except Exception as exc:  # the catalog is another engineer's work in progress
        pytest.skip(f"model_catalog not usable yet: {exc}")
    if hit is None:
        pytest.skip(f"model_catalog does not know {repo_id} yet")
    return hit


def load(ref: str, catalog_hit: Any = None, **kw: Any) -> LoadedModel:
    """load_from_hub with the fallbacks planner.sourcing.loader passes: the catalog's snapshot of the repo (when the
    test gives its hit) and the catalog's did-you-mean."""
    if catalog_hit is not None:
        kw.update(fallback=from_catalog(catalog_hit, ref), catalog_alias=catalog_hit.entry.alias)
    return phub.load_from_hub(ref, suggest=catalog_suggest, **kw)


def test_fake_hub_speaks_the_client_protocol(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    """The fake Hub itself, through the client calls other tests and tools (vLLM) make."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi()
    old = hub.add_repo(TINY, {"config.json": TINY_CONFIG})
    new = hub.add_repo(TINY, tiny_files(tmp_path))
    hub.add_repo("acme/gated", {"config.json": TINY_CONFIG}, gated=True)
    assert api.model_info(TINY).sha == new and api.model_info(TINY, revision=old).sha == old
    assert set(api.list_repo_files(TINY)) == {"config.json", "model.safetensors", "README.md", "tokenizer.json"}
    assert api.list_repo_files(TINY, revision=old) == ["config.json"]
    tree = {e.path: e for e in api.list_repo_tree(TINY)}
    blob = (hub.repos[TINY].head.folder / "README.md").read_bytes()
    assert tree["README.md"].blob_id == hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
    assert api.file_exists(TINY, "config.json") and not api.file_exists(TINY, "nope.json")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(TINY, revision="v1")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("acme/absent")
    with pytest.raises(GatedRepoError):
        api.file_exists("acme/gated", "config.json")


# --- download, tensors, cache -------------------------------------------------------------------
def test_download_gives_config_tensors_and_commit(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    sha = hub.add_repo(TINY, tiny_files(tmp_path))
    m = load(TINY)
    assert m.source == "hub" and m.name == TINY and m.repo_id == TINY and m.revision == sha
    assert m.config == TINY_CONFIG
    arrays = tiny_arrays()
    assert m.weights_source == "safetensors"
    assert {t.name: (t.dtype, t.shape) for t in m.tensors or ()} == {
        k: ("F16", a.shape) for k, a in arrays.items()}
    # The config went through the HF cache, where vLLM and transformers will find it too.
    assert (hf / "hub" / "models--acme--tiny-llama" / "snapshots" / sha / "config.json").is_file()
    assert (hf / "hub" / "models--acme--tiny-llama" / "refs" / "main").read_text() == sha
    # Only the safetensors header was read, with a Range request; nothing else but what is needed.
    st_gets = [r for r in hub.requests if r.method == "GET" and r.path.endswith(".safetensors")]
    assert st_gets and all(r.range for r in st_gets)
    assert not any("tokenizer" in r.path or "README" in r.path for r in hub.requests)


def test_second_run_uses_the_cache_and_makes_no_request(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    first = load(TINY)
    assert hub.requests
    hub.reset_requests()
    second = load(TINY)
    assert hub.requests == []
    assert second.source == "hub-cache" and second.warnings == ()
    assert (second.config, second.tensors, second.revision) == (first.config, first.tensors, first.revision)


def test_damaged_manifest_means_asking_the_hub_again(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    first = load(TINY)
    (manifest,) = (hf / "vllm-planner" / "hub").rglob("*.json")
    data = json.loads(manifest.read_text())
    data["tensors"][0] = ["x", "BF16", "not a shape"]
    manifest.write_text(json.dumps(data))
    hub.reset_requests()
    again = load(TINY)
    assert hub.requests and again.source == "hub" and again.tensors == first.tensors


def test_expired_cache_rechecks_the_branch_and_sees_a_new_commit(
        hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = hub.add_repo(TINY, tiny_files(tmp_path))
    assert load(TINY).revision == old
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL="0")
    hub.reset_requests()
    same = load(TINY)  # expired, but main has not moved: one request (model_info), nothing downloaded
    assert [r.path for r in hub.requests] == [f"/api/models/{TINY}/revision/main"]
    assert same.source == "hub-cache" and same.revision == old and same.tensors
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL=None)
    new_cfg = {**TINY_CONFIG, "max_position_embeddings": 1024}
    new = hub.add_repo(TINY, tiny_files(tmp_path, new_cfg))
    hub.reset_requests()
    assert load(TINY).revision == old and hub.requests == []  # within the TTL: trusted, no request
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL="0")
    m = load(TINY)
    assert hub.requests and m.source == "hub" and m.revision == new
    assert m.config["max_position_embeddings"] == 1024


def test_hf_hub_cache_is_honoured(hub: FakeHub, hf: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "shared-cache"
    setenv(monkeypatch, HF_HUB_CACHE=str(elsewhere))
    sha = hub.add_repo(TINY, tiny_files(tmp_path))
    load(TINY)
    assert (elsewhere / "models--acme--tiny-llama" / "snapshots" / sha / "config.json").is_file()
    assert not (hf / "hub").exists()
    hub.reset_requests()
    assert load(TINY).source == "hub-cache" and hub.requests == []


def test_headers_larger_than_the_first_range_request(hub: FakeHub, hf: Path) -> None:
    """get_safetensors_metadata reads 100 kB first; MoE shards (DeepSeek-V3: thousands of expert
    tensors per shard) have larger headers and need a second request."""
    many = [(f"model.layers.{i // 768}.mlp.experts.{i % 256}.{('gate', 'up', 'down')[i % 3]}_proj.weight",
             "F8_E4M3", (2048, 7168)) for i in range(3000)]
    hub.add_repo(TINY, {"config.json": TINY_CONFIG,
                        "model.safetensors": lambda p: write_sparse_safetensors(p, many)})
    m = load(TINY)
    assert m.tensors is not None and len(m.tensors) == 3000
    assert {(t.name, t.dtype, t.shape) for t in m.tensors} == set(many)
    st_gets = [r for r in hub.requests if r.method == "GET" and r.path.endswith("model.safetensors")]
    assert len(st_gets) == 2 and all(r.range for r in st_gets)


def test_sharded_checkpoint_of_a_real_config(hub: FakeHub, hf: Path) -> None:
    cfg = ref_config("meta-llama__Llama-3.1-8B-Instruct.json")
    files, expected = sharded_files(cfg, 4)
    hub.add_repo("meta-llama/Llama-3.1-8B-Instruct", files)
    m = load("meta-llama/Llama-3.1-8B-Instruct")
    assert m.weights_source == "safetensors" and m.tensors is not None
    assert sorted((t.name, t.dtype, t.shape) for t in m.tensors) == sorted(expected)
    assert len(m.tensors) == 291  # 32 layers x 9 + embed, norm, lm_head
    # 8,030,261,248 BF16 parameters = 16,060,522,496 bytes: the total_size of the real index.
    assert sum(nbytes(t.dtype, t.shape) for t in m.tensors) == 16_060_522_496
    shard_gets = {r.path.rsplit("/", 1)[1] for r in hub.requests
                  if r.method == "GET" and r.path.endswith(".safetensors")}
    assert shard_gets == {f"model-{k:05d}-of-00004.safetensors" for k in range(1, 5)}
    hub.reset_requests()
    assert load("meta-llama/Llama-3.1-8B-Instruct").tensors == m.tensors
    assert hub.requests == []


@pytest.mark.parametrize(("sidecar", "expected_method"), [
    ("nvidia__Llama-3.1-70B-Instruct-FP8.hf_quant_config.json", "modelopt"),
    (None, "gptq"),
])
def test_quant_sidecars_are_merged_online_and_from_cache(
        hub: FakeHub, hf: Path, tmp_path: Path, sidecar: str | None, expected_method: str) -> None:
    files = tiny_files(tmp_path)
    if sidecar is not None:
        files["hf_quant_config.json"] = REF_CONFIGS / sidecar
    else:  # AutoGPTQ's quantize_config.json (no quant_method key), as old GPTQ repos ship it
        files["quantize_config.json"] = {"bits": 4, "group_size": 128, "desc_act": False, "sym": True}
    hub.add_repo(TINY, files)
    online = load(TINY)
    assert online.config["quantization_config"]["quant_method"] == expected_method
    hub.reset_requests()
    cached = load(TINY)
    assert hub.requests == [] and cached.config == online.config


def test_absent_sidecars_cost_no_request(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    load(TINY)
    assert not any(side in r.path for r in hub.requests for side in ("quant_config", "quantize_config"))


def test_repo_without_safetensors_is_sized_from_config(hub: FakeHub, hf: Path) -> None:
    hub.add_repo(TINY, {"config.json": TINY_CONFIG, "pytorch_model.bin": b"\0" * 16})
    m = load(TINY)
    assert m.tensors is None and m.weights_source == "config" and m.warnings == ()


def test_unparsable_safetensors_header_warns_online_and_from_cache(hub: FakeHub, hf: Path) -> None:
    garbage = b"\x10\0\0\0\0\0\0\0not json at all!"  # a 16-byte header that is not JSON
    hub.add_repo(TINY, {"config.json": TINY_CONFIG, "model.safetensors": garbage})
    m = load(TINY)
    assert m.tensors is None and m.weights_source == "config"
    assert len(m.warnings) == 1 and "safetensors headers" in m.warnings[0]
    hub.reset_requests()
    cached = load(TINY)
    assert hub.requests == [] and cached.warnings == m.warnings


def test_index_naming_a_missing_shard_warns_and_keeps_the_config(hub: FakeHub, hf: Path) -> None:
    files, _ = sharded_files(ref_config("meta-llama__Llama-3.1-8B-Instruct.json"), 2)
    del files["model-00002-of-00002.safetensors"]
    hub.add_repo(TINY, files)
    m = load(TINY)
    assert m.tensors is None and m.config["num_hidden_layers"] == 32
    assert len(m.warnings) == 1 and "safetensors headers" in m.warnings[0]
    assert "names a shard the repo does not have" in m.warnings[0]


def test_malformed_config_json_on_the_hub(hub: FakeHub, hf: Path) -> None:
    hub.add_repo(TINY, {"config.json": "{not json"})
    with pytest.raises(PlannerError) as err:
        load(TINY)
    assert err.value.code == "malformed_config"


# --- offline ------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["flag", "HF_HUB_OFFLINE"])
def test_offline_uses_the_cache_whatever_its_age(
        hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    sha = hub.add_repo(TINY, tiny_files(tmp_path))
    online = load(TINY)
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL="0")
    if how == "HF_HUB_OFFLINE":
        setenv(monkeypatch, HF_HUB_OFFLINE="1")
    hub.reset_requests()
    m = load(TINY, offline=how == "flag")
    assert hub.requests == []
    assert m.source == "hub-cache" and m.revision == sha and m.tensors == online.tensors


@pytest.mark.parametrize("how", ["flag", "HF_HUB_OFFLINE"])
def test_offline_without_cache_is_a_clear_error(
        hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    if how == "HF_HUB_OFFLINE":
        setenv(monkeypatch, HF_HUB_OFFLINE="1")
    with pytest.raises(PlannerError) as err:
        load(TINY, offline=how == "flag")
    assert err.value.code == "offline_not_cached" and TINY in err.value.message
    assert hub.requests == []


def test_offline_without_cache_falls_back_to_the_catalog(hub: FakeHub, hf: Path) -> None:
    hit = catalog_hit("meta-llama/Llama-3.1-8B-Instruct")
    m = load("meta-llama/Llama-3.1-8B-Instruct", offline=True, catalog_hit=hit)
    assert hub.requests == []
    assert m.source == "catalog" and m.config == from_catalog(hit, "x").config
    assert len(m.warnings) == 1 and "offline" in m.warnings[0] and "catalog" in m.warnings[0]


def test_offline_reads_a_snapshot_cached_by_another_tool(
        hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model downloaded by `huggingface-cli download` / vLLM: no planner manifest, full weights."""
    from huggingface_hub import snapshot_download

    hub.add_repo(TINY, tiny_files(tmp_path))
    snapshot_download(TINY, allow_patterns=["config.json", "model.safetensors"])
    setenv(monkeypatch, HF_HUB_OFFLINE="1")
    hub.reset_requests()
    m = load(TINY)
    assert hub.requests == [] and m.source == "hub-cache"
    assert {t.name for t in m.tensors or ()} == set(tiny_arrays())


# --- gated, missing, revisions ------------------------------------------------------------------
def test_gated_repo_without_token_says_how_to_pass_one(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo("acme/gated", tiny_files(tmp_path), gated=True)
    with pytest.raises(PlannerError) as err:
        load("acme/gated")
    e = err.value
    assert e.code == "gated_repo" and "gated" in e.message
    assert "HF_TOKEN" in (e.hint or "") and "--hf-token" in (e.hint or "") and "login" in (e.hint or "")
    assert "\n" not in e.one_line()


@pytest.mark.parametrize("how", ["HF_TOKEN", "argument"])
def test_gated_repo_with_token(hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              how: str) -> None:
    hub.add_repo("acme/gated", tiny_files(tmp_path), gated=True)
    hub.tokens.add("hf_secret")
    if how == "HF_TOKEN":
        setenv(monkeypatch, HF_TOKEN="hf_secret")
    m = load("acme/gated", token="hf_secret" if how == "argument" else None)
    assert m.source == "hub" and m.tensors
    assert all(r.authorized for r in hub.requests)


def test_gated_repo_known_to_the_catalog_falls_back_with_the_token_hint(hub: FakeHub, hf: Path) -> None:
    hit = catalog_hit("meta-llama/Llama-3.1-8B-Instruct")
    files, _ = sharded_files(ref_config("meta-llama__Llama-3.1-8B-Instruct.json"), 2)
    hub.add_repo("meta-llama/Llama-3.1-8B-Instruct", files, gated=True)
    m = load("meta-llama/Llama-3.1-8B-Instruct", catalog_hit=hit)
    assert m.source == "catalog" and len(m.warnings) == 1
    assert "gated" in m.warnings[0] and "HF_TOKEN" in m.warnings[0]


def test_gated_repo_cached_earlier_with_a_token_is_used_with_a_warning(
        hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = hub.add_repo("acme/gated", tiny_files(tmp_path), gated=True)
    hub.tokens.add("hf_secret")
    first = load("acme/gated", token="hf_secret")
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL="0")
    # main has not moved: the public model_info confirms the cached commit, no token needed.
    hub.reset_requests()
    same = load("acme/gated")
    assert len(hub.requests) == 1 and same.warnings == () and same.tensors == first.tensors
    # main moved to a commit the planner may not read: the old copy, and a warning saying why.
    hub.add_repo("acme/gated", tiny_files(tmp_path, {**TINY_CONFIG, "max_position_embeddings": 4096}))
    m = load("acme/gated")
    assert m.source == "hub-cache" and m.revision == old and m.config == TINY_CONFIG and m.tensors
    assert len(m.warnings) == 1 and "gated" in m.warnings[0] and "HF_TOKEN" in m.warnings[0]


def test_catalog_fallback_says_the_pinned_revision_was_not_checked(hub: FakeHub, hf: Path) -> None:
    hit = catalog_hit("meta-llama/Llama-3.1-8B-Instruct")
    m = load("meta-llama/Llama-3.1-8B-Instruct", revision="0" * 40, offline=True, catalog_hit=hit)
    assert m.source == "catalog" and "0" * 40 in m.warnings[-1]


def test_missing_repo(hub: FakeHub, hf: Path) -> None:
    with pytest.raises(PlannerError) as err:
        load("acme/nope")
    assert err.value.code == "model_not_found" and "acme/nope" in err.value.message


def test_missing_repo_suggests_close_catalog_repos(hub: FakeHub, hf: Path) -> None:
    catalog_hit("meta-llama/Llama-3.1-8B-Instruct")
    with pytest.raises(PlannerError) as err:
        load("meta-llama/Llama-3.1-8B-Instruc")
    assert "meta-llama/Llama-3.1-8B-Instruct" in (err.value.hint or "")


def test_repo_without_config_json(hub: FakeHub, hf: Path) -> None:
    hub.add_repo("acme/gguf-only", {"model.gguf": b"GGUF", "README.md": "x"})
    with pytest.raises(PlannerError) as err:
        load("acme/gguf-only")
    assert err.value.code == "no_config" and "config.json" in err.value.message


def test_revision_pins_by_sha_and_branch(hub: FakeHub, hf: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    old = hub.add_repo(TINY, tiny_files(tmp_path, {**TINY_CONFIG, "max_position_embeddings": 111}))
    new = hub.add_repo(TINY, tiny_files(tmp_path, {**TINY_CONFIG, "max_position_embeddings": 222}))
    pinned = load(TINY, revision=old)
    assert (pinned.revision, pinned.config["max_position_embeddings"]) == (old, 111)
    head = load(TINY, revision="main")
    assert (head.revision, head.config["max_position_embeddings"]) == (new, 222)
    # A commit never changes: even with no TTL, a pinned sha in the cache is not re-checked.
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL="0")
    hub.reset_requests()
    assert load(TINY, revision=old).config["max_position_embeddings"] == 111
    assert hub.requests == []


def test_bad_revision(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    with pytest.raises(PlannerError) as err:
        load(TINY, revision="v9.9")
    assert err.value.code == "revision_not_found" and "v9.9" in err.value.message


@pytest.mark.parametrize(("var", "value"), [("PLANNER_HUB_TIMEOUT", "0"), ("PLANNER_HUB_TIMEOUT", "soon"),
                                            ("PLANNER_HUB_CACHE_TTL", "-1"), ("PLANNER_HUB_CACHE_TTL", "nan")])
def test_bad_planner_settings_are_named(hub: FakeHub, hf: Path, monkeypatch: pytest.MonkeyPatch,
                                        var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(PlannerError) as err:
        load(TINY)
    assert var in err.value.message and hub.requests == []


def test_invalid_repo_id(hub: FakeHub, hf: Path) -> None:
    with pytest.raises(PlannerError) as err:
        load("acme/bad--name")
    assert err.value.code == "model_not_found"
    assert hub.requests == []


# --- faults ---------------------------------------------------------------------------------------
def _server_error(hub: FakeHub, tmp_path: Path) -> float:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.faults.append(Fault("status", status=503))
    t0 = time.monotonic()
    with pytest.raises(PlannerError) as err:
        load(TINY)
    elapsed = time.monotonic() - t0
    assert err.value.code == "hub_unreachable" and "HTTP 503" in err.value.message
    return elapsed


def test_server_error_is_a_clean_error(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    _server_error(hub, tmp_path)


@pytest.mark.perf
def test_server_error_is_a_clean_error_fast(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    assert _server_error(hub, tmp_path) < 5


def test_dropped_connection_is_a_clean_error(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.faults.append(Fault("drop"))
    with pytest.raises(PlannerError) as err:
        load(TINY)
    assert err.value.code == "hub_unreachable" and "\n" not in err.value.one_line()


def test_server_error_falls_back_to_a_stale_cache(hub: FakeHub, hf: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sha = hub.add_repo(TINY, tiny_files(tmp_path))
    online = load(TINY)
    setenv(monkeypatch, PLANNER_HUB_CACHE_TTL="0")
    hub.faults.append(Fault("status", status=500))
    m = load(TINY)
    assert m.source == "hub-cache" and m.revision == sha and m.tensors == online.tensors
    assert len(m.warnings) == 1 and "HTTP 500" in m.warnings[0] and "cached" in m.warnings[0]


def _truncated(hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> float:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.faults.append(Fault("truncate", path=path))
    # The client resumes a truncated download a few times (~5 s); the deadline cuts that short.
    setenv(monkeypatch, PLANNER_HUB_TIMEOUT="3")
    t0 = time.monotonic()
    with pytest.raises(PlannerError) as err:
        load(TINY)
    elapsed = time.monotonic() - t0
    assert err.value.code == "hub_unreachable"
    assert not (hf / "vllm-planner").exists()  # nothing half-fetched was recorded
    return elapsed


TRUNCATED_PATHS = ["/api/models/", r"/resolve/\w+/config\.json"]


@pytest.mark.parametrize("path", TRUNCATED_PATHS)
def test_truncated_response_is_a_clean_error(hub: FakeHub, hf: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    _truncated(hub, hf, tmp_path, monkeypatch, path)


@pytest.mark.perf
@pytest.mark.parametrize("path", TRUNCATED_PATHS)
def test_truncated_response_is_cut_short(hub: FakeHub, hf: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    assert _truncated(hub, hf, tmp_path, monkeypatch, path) < 6


def _slow_server(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> float:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.faults.append(Fault("slow", delay=30))
    setenv(monkeypatch, HF_HUB_ETAG_TIMEOUT="1")
    t0 = time.monotonic()
    with pytest.raises(PlannerError) as err:
        load(TINY)
    elapsed = time.monotonic() - t0
    assert err.value.code == "hub_unreachable" and "timed out" in err.value.message
    return elapsed


def test_slow_server_times_out(hub: FakeHub, hf: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_server(hub, tmp_path, monkeypatch)


@pytest.mark.perf
def test_slow_server_times_out_within_5_s(hub: FakeHub, hf: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert _slow_server(hub, tmp_path, monkeypatch) < 5


def _deadline(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              capfd: pytest.CaptureFixture[str], fault: Fault) -> float:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.faults.append(fault)
    setenv(monkeypatch, HF_HUB_ETAG_TIMEOUT="1", PLANNER_HUB_TIMEOUT="2")
    t0 = time.monotonic()
    with pytest.raises(PlannerError) as err:
        load(TINY)
    elapsed = time.monotonic() - t0
    assert err.value.code == "hub_unreachable" and "within 2 s" in err.value.message
    assert capfd.readouterr().err == ""
    return elapsed


DEADLINE_FAULTS = pytest.mark.parametrize("fault", [Fault("slow", path="/resolve/", delay=120),
                                                    Fault("status", path="/resolve/", status=503)],
                                          ids=["slow", "503"])


@DEADLINE_FAULTS
def test_overall_deadline_bounds_the_client_retries(hub: FakeHub, hf: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capfd: pytest.CaptureFixture[str], fault: Fault) -> None:
    """model_info answers, then config.json hangs or fails: the client alone would retry for 23 s (503,
    with backoff) or minutes (60 s timeouts), logging each retry. The deadline ends it, quietly (the
    message names the 2 s deadline only when the deadline, not the client, ended it)."""
    _deadline(hub, tmp_path, monkeypatch, capfd, fault)


@pytest.mark.perf
@DEADLINE_FAULTS
def test_overall_deadline_ends_it_within_4_s(hub: FakeHub, hf: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str], fault: Fault) -> None:
    assert _deadline(hub, tmp_path, monkeypatch, capfd, fault) < 4


def test_unreadable_safetensors_header_keeps_the_config_and_retries_next_time(
        hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.faults.append(Fault("status", path=r"\.safetensors$", status=502, times=100))
    m = load(TINY)
    assert m.source == "hub" and m.config == TINY_CONFIG and m.tensors is None
    assert m.weights_source == "config"
    assert len(m.warnings) == 1 and "safetensors headers" in m.warnings[0]
    hub.faults.clear()
    hub.reset_requests()
    again = load(TINY)
    assert hub.requests and again.weights_source == "safetensors"  # no manifest was written: re-asked


def test_unreachable_endpoint_falls_back_to_cache_then_catalog(
        hub: FakeHub, hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    sha = hub.add_repo(TINY, tiny_files(tmp_path))
    load(TINY)
    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    setenv(monkeypatch, HF_ENDPOINT=closed, PLANNER_HUB_CACHE_TTL="0")
    m = load(TINY)
    assert m.source == "hub-cache" and m.revision == sha
    assert len(m.warnings) == 1 and closed in m.warnings[0]

    with pytest.raises(PlannerError) as err:
        load("acme/never-cached")
    assert err.value.code == "hub_unreachable" and closed in err.value.message

    hit = catalog_hit("meta-llama/Llama-3.1-8B-Instruct")
    m = load("meta-llama/Llama-3.1-8B-Instruct", catalog_hit=hit)
    assert m.source == "catalog" and "cannot reach" in m.warnings[-1]


# --- through planner.sourcing.loader, progress, import cost -----------------------------------------------
def test_load_model_routes_repo_ids_to_the_hub(hub: FakeHub, hf: Path, tmp_path: Path) -> None:
    sha = hub.add_repo(TINY, tiny_files(tmp_path))
    m = load_model(TINY)
    assert m.source == "hub" and m.revision == sha


def test_progress_spinner_on_stderr_only_when_asked(hub: FakeHub, hf: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    hub.add_repo(TINY, tiny_files(tmp_path))
    hub.add_repo("acme/other", tiny_files(tmp_path))
    monkeypatch.setenv("TTY_COMPATIBLE", "1")   # let rich draw as on a terminal
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    load(TINY, progress=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    load("acme/other", progress=True)
    out = capsys.readouterr()
    assert out.out == "" and "Fetching acme/other" in out.err


def test_importing_planner_hub_does_not_load_the_http_stack() -> None:
    heavy = ("huggingface_hub.file_download", "huggingface_hub.hf_api", "httpx2", "httpx", "requests",
             "transformers", "rich.console")
    code = f"import sys, planner.sourcing.hub; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_fresh_process_honours_the_hf_environment(hub: FakeHub, tmp_path: Path) -> None:
    """HF_ENDPOINT / HF_HOME / HF_TOKEN / HF_HUB_OFFLINE set before start, as a user sets them."""
    hub.add_repo("acme/gated", tiny_files(tmp_path), gated=True)
    hub.tokens.add("hf_fresh")
    code = ("import json, sys; from planner.sourcing.loader import load_model; m = load_model(sys.argv[1]); "
            "print(json.dumps([m.source, m.revision, m.weights_source, len(m.tensors or ())]))")
    env = {k: v for k, v in os.environ.items() if k not in HF_VARS}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "fresh-home"), HF_TOKEN="hf_fresh",
               HF_HUB_DISABLE_TELEMETRY="1")
    run = [sys.executable, "-c", code, "acme/gated"]
    first = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    source, sha, weights, n = json.loads(first.stdout)
    assert (source, sha, weights, n) == ("hub", hub.repos["acme/gated"].head.sha, "safetensors",
                                         len(tiny_arrays()))
    assert all(r.authorized for r in hub.requests)
    assert (tmp_path / "fresh-home" / "hub" / "models--acme--gated" / "refs" / "main").is_file()
    hub.reset_requests()
    env.update(HF_HUB_OFFLINE="1", PLANNER_HUB_CACHE_TTL="0")
    env.pop("HF_TOKEN")
    second = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)[:2] == ["hub-cache", sha] and hub.requests == []


# --- AutoConfig ------------------------------------------------------------------------------------
def test_autoconfig_fills_class_defaults() -> None:
    cfg = ref_config("meta-llama__Llama-3.1-8B-Instruct.json")
    trimmed = {k: v for k, v in cfg.items() if k not in ("num_key_value_heads", "head_dim", "rope_theta")}
    out = phub.config_via_autoconfig(trimmed)
    # LlamaConfig: num_key_value_heads defaults to num_attention_heads, head_dim to hidden/heads.
    assert out["num_key_value_heads"] == 32 and out["head_dim"] == 128
    assert out["hidden_size"] == 4096 and out["rope_scaling"] == cfg["rope_scaling"]  # file values win


def test_autoconfig_adds_standard_names_for_aliased_fields() -> None:
    gpt2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257,
            "n_positions": 1024}
    out = phub.config_via_autoconfig(gpt2)
    assert (out["hidden_size"], out["num_hidden_layers"], out["num_attention_heads"]) == (768, 12, 12)
    assert out["max_position_embeddings"] == 1024


def test_autoconfig_unknown_model_type() -> None:
    with pytest.raises(PlannerError) as err:
        phub.config_via_autoconfig({"model_type": "llamma", "hidden_size": 8})
    assert err.value.code == "unsupported_model" and "llamma" in err.value.message
    assert "llama" in (err.value.hint or "")


def test_autoconfig_says_what_is_missing() -> None:
    with pytest.raises(PlannerError) as err:
        phub.config_via_autoconfig({"model_type": "vit", "hidden_size": 768})
    assert "vocab_size" in err.value.message


def test_autoconfig_never_runs_remote_code() -> None:
    with pytest.raises(PlannerError):
        phub.config_via_autoconfig({"model_type": "my_remote_arch",
                                    "auto_map": {"AutoConfig": "configuration_x.XConfig"}})


# --- end to end through the CLI --------------------------------------------------------------------
def _planner(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in HF_VARS}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


def _estimate_is_stub() -> bool:
    return not (ROOT / "planner" / "commands" / "estimate.py").is_file() or \
        not (ROOT / "planner" / "memory" / "estimator.py").is_file()


def _figures(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc.get(k) for k in ("fits", "per_gpu", "kv_cache", "errors", "gpu", "vllm")}


def test_cli_estimate_through_the_fake_hub_matches_the_local_folder(hub: FakeHub, tmp_path: Path) -> None:
    if _estimate_is_stub():
        pytest.skip("`planner estimate` is not implemented yet")
    repo = "meta-llama/Llama-3.1-8B-Instruct"
    files, _ = sharded_files(ref_config("meta-llama__Llama-3.1-8B-Instruct.json"), 4)
    hub.add_repo(repo, files, gated=True)
    hub.tokens.add("hf_e2e")
    folder = tmp_path / "Llama-3.1-8B-Instruct"
    folder.mkdir()
    for rel, content in files.items():  # the same files, as a local folder
        if callable(content):
            content(folder / rel)
        else:
            (folder / rel).write_text(json.dumps(content))
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": "hf_e2e",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    via_hub = _planner(["estimate", repo, "--gpu", "H100", "--json"], env)
    if via_hub.returncode == 2 and "not implemented" in via_hub.stderr + via_hub.stdout:
        pytest.skip("`planner estimate` is still the stub")
    local = _planner(["estimate", str(folder), "--gpu", "H100", "--json"], env)
    assert via_hub.returncode in (0, 1), via_hub.stderr
    assert local.returncode == via_hub.returncode, local.stderr
    a, b = json.loads(via_hub.stdout), json.loads(local.stdout)
    assert _figures(a) == _figures(b)
    assert a["quantization"]["weights_source"] == b["quantization"]["weights_source"] == "safetensors"
    assert a["model"]["source"] == "hub"
    assert any(r.path.endswith(".safetensors") for r in hub.requests)
    # Second run: the cache answers, the fake hub sees nothing, and the figures do not move.
    hub.reset_requests()
    again = _planner(["estimate", repo, "--gpu", "H100", "--json"], env)
    assert hub.requests == [] and _figures(json.loads(again.stdout)) == _figures(a)
