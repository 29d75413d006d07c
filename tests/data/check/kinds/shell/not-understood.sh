#!/bin/sh
M=meta-llama/Llama-3.1-8B-Instruct
eval "vllm serve $M --bogus"
