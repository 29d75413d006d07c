"""The memory model: vLLM's startup accounting (weights, activation peak, non-torch, CUDA graphs, KV cache)."""
