"""vLLM release facts: versions and their rules, the flag table, `vllm serve` argument parsing."""
