"""vllm-planner: plan, check and validate vLLM deployments with the numbers vLLM itself logs."""

__version__ = "0.1.0"
