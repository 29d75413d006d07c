"""The performance model: what `vllm bench serve` would measure for a deployment.

A pure step-time model (step_time.py) and a simulation of vLLM's scheduler (scheduler.py) that take the
memory model's answer (planner.memory.estimator.Estimate), with the workload generators (workload.py) beside them
and the benchmark's own statistics (metrics.py). predict.py ties them together.
"""
