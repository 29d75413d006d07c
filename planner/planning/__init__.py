"""The plan search: candidate deployments ranked by fit, load and cost."""
