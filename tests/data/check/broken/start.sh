#!/bin/sh
# planner: gpu=T4-16GB vllm=0.33.0
vllm serve Qwen/Qwen3-8B --task generate --max-model-len 40960 \
    --calculate-kv-scales --kv-cache-dtype fp8 &
echo "started"
