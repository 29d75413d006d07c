#!/bin/sh
for i in 1; do
  sudo -E nohup /usr/local/bin/vllm serve meta-llama/Llama-3.1-8B-Instruct --bogus &
done
