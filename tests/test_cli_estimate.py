"""`planner estimate` end to end through the CLI: forms of input, JSON contract, exit codes, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
runner = CliRunner()


def model_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    shutil.copy(CONFIGS / f"{name}.json", d / "config.json")
    return d


def run(*args: str):
    return runner.invoke(app, list(args))


def test_json_contract(tmp_path):
    d = model_dir(tmp_path, "meta-llama__Llama-3.1-70B-Instruct")
    r = run("estimate", str(d), "--gpu", "H100-SXM-80GB", "--tensor-parallel-size", "2", "--max-model-len",
            "32768", "--json")
    out = json.loads(r.stdout)
    assert out["schema_version"] == 1
    for key in ("total_gib", "requested_gib", "weights_gib", "activation_gib", "non_torch_gib", "cudagraph_gib",
                "kv_cache_gib"):
        assert isinstance(out["per_gpu"][key], float)
    for key in ("tokens", "num_blocks", "block_size", "bytes_per_token", "max_concurrency"):
        assert key in out["kv_cache"]
    assert out["gpu"]["id"] == "H100-SXM-80GB"
    assert out["vllm"]["version"] == "0.33.0"
    assert out["vllm"]["args"]["tensor_parallel_size"] == 2
    assert r.exit_code == (0 if out["fits"] else 1)
    assert isinstance(out["errors"], list) and isinstance(out["warnings"], list)


def test_pasted_command_equals_flags(tmp_path):
    d = model_dir(tmp_path, "mistralai__Mixtral-8x7B-v0.1")
    a = run("estimate", "--gpu", "L40S-48GB", "--json", "--", "vllm", "serve", str(d), "--tensor-parallel-size", "4",
            "--max-num-seqs", "128")
    b = run("estimate", str(d), "--gpu", "L40S", "-tp", "4", "--max-num-seqs=128", "--json")
    assert a.exit_code == b.exit_code == 0, a.stdout + b.stdout
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["per_gpu"] == jb["per_gpu"] and ja["kv_cache"] == jb["kv_cache"]
    assert ja["vllm"]["args"]["max_num_seqs"] == 128


def test_would_fail_exits_1_with_full_json(tmp_path):
    d = model_dir(tmp_path, "meta-llama__Llama-3.1-70B-Instruct")
    r = run("estimate", str(d / "config.json"), "--gpu", "H100", "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["fits"] is False
    assert {e["code"] for e in out["errors"]} >= {"weights_do_not_fit"}


def test_human_output_names_the_figures(tmp_path):
    d = model_dir(tmp_path, "Qwen__Qwen3-32B")
    r = run("estimate", str(d), "--gpu", "A100-SXM-80GB", "--quant", "awq", "--kv-cache-dtype", "fp8")
    assert r.exit_code == 0, r.stdout
    for text in ("Available KV cache memory:", "GPU KV cache size:", "Maximum concurrency for", "FITS", "weights"):
        assert text in r.stdout


@pytest.mark.parametrize("args, needle", [
    (["--gpu", "H1OO"], "unknown GPU"),
    (["--gpu", "H100", "--gpu-memory-utilization", "1.5"], "gpu-memory-utilization"),
    (["--gpu", "H100", "--max-model-len", "abc"], "max-model-len"),
    (["--gpu", "H100", "--kv-cache-dtype", "fp7"], "kv-cache-dtype"),
    (["--gpu", "H100", "--quant", "awk"], "unknown quantization"),
    (["--gpu", "H100", "--swap-space", "4"], "swap-space"),
    (["--gpu", "H100", "--vllm-version", "banana"], "vllm-version"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, needle):
    d = model_dir(tmp_path, "Qwen__Qwen3-8B")
    r = run("estimate", str(d), *args)
    assert r.exit_code == 2, r.stdout
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: error:")
    assert needle in err[0]
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON"),
    ('{"hidden_size": 4096}', "num_hidden_layers"),
    ('{"hidden_size": "big", "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}', "must be a number"),
    ('{"hidden_size": 0, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}', "must be >= 1"),
    ('[1, 2]', "JSON object"),
])
def test_malformed_config_exits_2(tmp_path, content, needle):
    (tmp_path / "config.json").write_text(content)
    r = run("estimate", str(tmp_path), "--gpu", "H100", "--json")
    assert r.exit_code == 2
    assert needle in r.stderr
    assert json.loads(r.stdout)["error"]["code"]


def test_missing_model_and_gpu(tmp_path):
    r = run("estimate", str(tmp_path / "nope"), "--gpu", "H100")
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = run("estimate", str(model_dir(tmp_path, "Qwen__Qwen3-8B")))
    assert r.exit_code == 2 and "--gpu is required" in r.stderr
