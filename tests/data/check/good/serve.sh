#!/usr/bin/env bash
# planner: gpu=A100-SXM-80GB vllm=0.33.0
set -euo pipefail
MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
MAX_LEN=32768

exec vllm serve "$MODEL" \
  --max-model-len "$MAX_LEN" \
  --max-num-seqs 128 \
  --port 8000
