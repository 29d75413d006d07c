"""Speculative decoding memory against vLLM 0.33's code (planner/memory/spec_decode.py cites the files).

Expected figures are hand-computed from the drafters' module shapes (llama_eagle3.py, deepseek_mtp.py,
a draft model loaded whole), from the KV grouping (kv_cache_planning: the drafter's attention layers join
the target's pool; same-type layers with other page sizes form one group whose page is their sum) and
from config/vllm.py (lookahead check, capture sizes). ../shared/validation has one speculative run
(c031, MTP on a hybrid model) without a config, so there is no real-log pin here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gpu_catalog
from planner.cli import app
from planner.errors import PlannerError
from planner.memory.estimator import estimate
from planner.memory.quant import resolve_scheme
from planner.memory.spec import model_spec_from_config
from planner.memory.spec_decode import parse_speculative
from planner.memory.weights import allocated_bytes, rank_weights
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv
from planner.release.vllm_versions import cudagraph_max_capture, rules_for

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
H100 = gpu_catalog.resolve("H100-SXM-80GB")
H200 = gpu_catalog.resolve("H200")
GiB = 2**30
LLAMA = "meta-llama__Llama-3.1-8B-Instruct"
DRAFT = "meta-llama__Llama-3.2-1B-Instruct"
R1 = "deepseek-ai__DeepSeek-R1"


def _config(name: str) -> dict[str, object]:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def _spec(name: str):
    return model_spec_from_config(_config(name), name=name)


def _sc(**kw: object) -> EngineArgs:
    return EngineArgs(max_model_len=8192, speculative_config=json.dumps(kw))


# --- reading --speculative-config as SpeculativeConfig.__post_init__ does ----------------------------------
@pytest.mark.parametrize(("given", "method"), [
    ({"model": "ngram", "num_speculative_tokens": 3}, "ngram"),
    ({"method": "[ngram]", "num_speculative_tokens": 3}, "ngram"),
    ({"model": "yuhuili/EAGLE-LLaMA3-Instruct-8B", "num_speculative_tokens": 3}, "eagle"),
    ({"model": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B", "num_speculative_tokens": 3}, "eagle3"),
    ({"model": "meta-llama/Llama-3.2-1B-Instruct", "num_speculative_tokens": 5}, "draft_model"),
    ({"method": "deepseek_mtp", "num_speculative_tokens": 1}, "mtp"),
])
def test_the_method_is_inferred_as_vllm_does(given: dict[str, object], method: str) -> None:
    settings = parse_speculative(EngineArgs(speculative_config=json.dumps(given)), _spec(R1))
    assert settings is not None and settings.method == method


def test_mtp_takes_its_token_count_from_the_mtp_layers() -> None:
    settings = parse_speculative(EngineArgs(speculative_config='{"method": "mtp"}'), _spec(R1))
    assert settings is not None and settings.num_speculative_tokens == 1      # num_nextn_predict_layers


def test_the_0_6_flags_are_read_too() -> None:
    cmd = parse_serve_argv(["vllm", "serve", "m", "--speculative-model", "meta-llama/Llama-3.2-1B-Instruct",
                            "--num-speculative-tokens", "5"], version="0.6.6.post1")
    settings = parse_speculative(cmd.args, _spec(LLAMA))
    assert settings is not None and (settings.method, settings.num_speculative_tokens) == ("draft_model", 5)


@pytest.mark.parametrize("text", ['{"method": "eagle3"', '[1, 2]', '{"method": "medusa2", "num_speculative_tokens": 2}',
                                  '{"method": "ngram"}', '{"method": "eagle3", "num_speculative_tokens": 3}',
                                  '{"model": "x", "num_speculative_tokens": 0}'])
def test_malformed_configs_are_bad_input(text: str) -> None:
    with pytest.raises(PlannerError):
        parse_speculative(EngineArgs(speculative_config=text), _spec(LLAMA))


def test_mtp_on_a_model_without_mtp_layers_is_bad_input() -> None:
    with pytest.raises(PlannerError, match="MTP layers"):
        estimate(_config(LLAMA), H100, _sc(method="mtp", num_speculative_tokens=1))


def test_malformed_json_exits_2_with_one_line(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(_config(LLAMA)))
    for text in ('{"method": "eagle3", "num_speculative_tokens": 3', '{"method": "nope", "num_speculative_tokens": 1}'):
        r = CliRunner().invoke(app, ["estimate", str(d), "--gpu", "H100", "--speculative-config", text])
        assert r.exit_code == 2, r.output
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("planner: error: --speculative-config"), r.output


# --- what the drafter adds ----------------------------------------------------------------------------------
def test_ngram_adds_no_weights_and_no_kv() -> None:
    base = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192))
    ngram = estimate(_config(LLAMA), H100, _sc(method="ngram", num_speculative_tokens=3, prompt_lookup_max=4))
    assert (ngram.per_gpu, ngram.kv_cache) == (base.per_gpu, base.kv_cache) and ngram.fits


def test_a_draft_model_adds_its_weights_and_its_layers_to_every_block() -> None:
    base = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192))
    est = estimate(_config(LLAMA), H100, _sc(model="meta-llama/Llama-3.2-1B-Instruct", num_speculative_tokens=5),
                   draft=_config(DRAFT))
    draft = _spec(DRAFT)
    scheme, _ = resolve_scheme(None, None)
    draft_bytes = rank_weights(draft, scheme, tp=1, pp=1, stage=0, ep=False, act_bytes=2).allocated_bytes
    assert est.per_gpu.weights_gib * GiB == pytest.approx(base.per_gpu.weights_gib * GiB + draft_bytes, abs=1)
    # Target: 32 layers x 8 KV heads x 128 x K+V x 2 B x 16 tokens; draft: 16 layers x 8 x 64 x 2 x 2 x 16.
    target_page, draft_pages = 32 * 8 * 128 * 2 * 2 * 16, 16 * 8 * 64 * 2 * 2 * 16
    assert (base.kv_cache.bytes_per_block, est.kv_cache.bytes_per_block) == (target_page, target_page + draft_pages)
    assert est.kv_cache.groups == 1 and est.kv_cache.blocks_per_request == 8192 // 16
    assert est.kv_cache.num_blocks == int(est.per_gpu.kv_cache_gib * GiB // (target_page + draft_pages))
    # The drafter's propose over the dummy batch (its layers' forward, the target's hidden states alive)
    # stays below the target's peak here.
    assert est.per_gpu.activation_gib == base.per_gpu.activation_gib
    assert est.kv_cache.tokens < base.kv_cache.tokens


EAGLE3_HEAD = {   # the shape of an EAGLE3 head for Llama-3.1-8B (one layer, a 32,000-token draft vocabulary)
    "architectures": ["LlamaForCausalLMEagle3"], "model_type": "llama", "hidden_size": 4096,
    "num_hidden_layers": 1, "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
    "vocab_size": 128256, "draft_vocab_size": 32000, "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16", "tie_word_embeddings": False,
}


def test_an_eagle3_head_from_its_config() -> None:
    base = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192))
    est = estimate(_config(LLAMA), H100, _sc(method="eagle3", model="yuhuili/EAGLE3-LLaMA3.1-Instruct-8B",
                                             num_speculative_tokens=3), draft=EAGLE3_HEAD)
    h, i = 4096, 14336
    head = [(4096 + 2 * 1024) * 2 * h,          # qkv over [embeds, hidden] (2H) in the first layer
            h * 4096, 2 * i * h, h * i, h, h,   # o_proj, gate_up, down, 2 norms
            3 * h * h,                          # fc: 3 auxiliary hidden states -> H (ReplicatedLinear)
            h,                                  # final norm
            32000 * h]                          # own lm_head over the draft vocabulary (shared embed_tokens)
    tensors = [2 * n for n in head] + [32000 * 8]   # d2t (int64)
    assert est.per_gpu.weights_gib * GiB == pytest.approx(base.per_gpu.weights_gib * GiB + allocated_bytes(tensors),
                                                          abs=1)
    assert est.kv_cache.bytes_per_block == 33 * 8 * 128 * 2 * 2 * 16     # one more full-attention layer
    assert not [w for w in est.warnings if w.code == "spec_decode_assumption"]


def test_an_unknown_eagle_head_is_a_stated_assumption() -> None:
    est = estimate(_config(LLAMA), H100, _sc(method="eagle", model="someone/EAGLE-LLaMA3-Instruct-8B",
                                             num_speculative_tokens=3))
    assert [w.code for w in est.warnings] == ["spec_decode_assumption"]
    assert est.kv_cache.bytes_per_block == 33 * 8 * 128 * 2 * 2 * 16


def test_deepseek_mtp_adds_one_decoder_layer_and_one_mla_layer_to_the_pool() -> None:
    args = EngineArgs(tensor_parallel_size=8, max_model_len=32768)
    base = estimate(_config(R1), H200, args)
    est = estimate(_config(R1), H200, args.with_(speculative_config='{"method": "deepseek_mtp", '
                                                                    '"num_speculative_tokens": 1}'))
    assert est.kv_cache.bytes_per_block * 61 == base.kv_cache.bytes_per_block * 62
    added = (est.per_gpu.weights_gib - base.per_gpu.weights_gib) * GiB
    # eh_proj (nn.Linear 2H -> H, bf16, not sharded) plus one MoE decoder layer of R1 at TP8 (fp8 experts:
    # 256 x 3 x 7168 x 2048 / 8 bytes, ~1.3 GiB) and two 2H norms.
    eh_proj = 2 * 7168 * 7168 * 2
    experts = 256 * 3 * 7168 * 2048 // 8
    assert eh_proj + experts < added < eh_proj + 1.2 * experts
    assert est.kv_cache.tokens < base.kv_cache.tokens


def test_max_num_batched_tokens_must_exceed_the_lookahead() -> None:
    est = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192, max_num_seqs=2, max_num_batched_tokens=3,
                                                    enable_chunked_prefill=True,
                                                    speculative_config='{"method": "eagle", "model": "x/EAGLE-y", '
                                                                       '"num_speculative_tokens": 3}'))
    assert "spec_decode_config" in [e.code for e in est.errors]


def test_capture_sizes_follow_the_decode_query_length_in_0_33() -> None:
    kw = dict(max_num_seqs=32, mnbt=8192, cc=(9, 0), user_max=None, performance_mode="balanced")
    assert cudagraph_max_capture(rules_for("0.33.0"), **kw, num_speculative_tokens=3) == 32 * 4 * 2  # type: ignore[arg-type]
    assert cudagraph_max_capture(rules_for("0.33.0"), **kw) == 64                               # type: ignore[arg-type]
    assert cudagraph_max_capture(rules_for("0.19.0"), **kw, num_speculative_tokens=3) == 64     # type: ignore[arg-type]


def test_an_unknown_draft_model_offline_exits_2_with_one_line(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(_config(LLAMA)))
    r = CliRunner().invoke(app, ["estimate", str(d), "--gpu", "H100", "--offline", "--speculative-config",
                                 '{"model": "nobody/no-such-draft-1b", "num_speculative_tokens": 4}'])
    assert r.exit_code == 2, r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
