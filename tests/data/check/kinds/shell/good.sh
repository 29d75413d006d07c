#!/bin/sh
# planner: gpu=H100-SXM-80GB
exec vllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192
