"""Secret values (tokens, API keys) are never echoed: not in errors, plan output or manifests.

A pasted command may carry them (`HF_TOKEN=hf_... vllm serve`, `--api-key sk-...`, `--hf-token ...`), and
so may the planner's own `--hf-token`. The parser `remember()`s every such value as it reads it, and
`redact()` (applied to every error line the CLI prints) replaces what it remembers, and anything shaped
like a secret assignment or a known token format, with `***`. The emitters never write the values: they
reference an environment variable or a Kubernetes Secret (planner.emit).
"""

from __future__ import annotations

import re

MASK = "***"
# Environment names that hold secrets, matched as whole `_` words so that vLLM's own knobs such as
# VLLM_MAX_TOKENS_PER_EXPERT_FP4_MOE (vllm/envs.py) are not taken for one.
SECRET_ENV = re.compile(
    r"(?:^|_)(?:TOKEN|API_KEY|KEY|ACCESS_KEY|PRIVATE_KEY|PASSWORD|PASSWD|CREDENTIALS?)$|(?:^|_)SECRET(?:_|$)",
    re.IGNORECASE,
)
# `vllm serve` dests whose value is a secret (FrontendArgs.api_key, EngineArgs.hf_token).
SECRET_DESTS = frozenset({"api_key", "hf_token"})
# The environment variables vLLM reads the same secrets from (vllm/envs.py VLLM_API_KEY;
# huggingface_hub reads HF_TOKEN), so an emitted command can reference them instead of the value.
ENV_FOR_DEST = {"api_key": "VLLM_API_KEY", "hf_token": "HF_TOKEN"}

_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=(\S+)")
_FLAG_VALUE = re.compile(r"(--(?:api[-_]key|hf[-_]token)(?:=|\s+|'\s*,\s*'|\"\s*,\s*\"))([^\s'\",)]+)")
# Shapes of common tokens: Hugging Face (hf_...), OpenAI-style (sk-...), GitHub (ghp_...).
_TOKEN_SHAPES = re.compile(r"\b(?:hf_[A-Za-z0-9]{6,}|sk-[A-Za-z0-9_-]{6,}|gh[pousr]_[A-Za-z0-9]{6,})")
_remembered: set[str] = set()


_SECRET_FLAGS = {"--api-key": "api_key", "--hf-token": "hf_token"}


def is_secret_flag(spelling: str) -> bool:
    """A `vllm serve` option whose value is a secret (in its canonical spelling, any release)."""
    return spelling.split("=", 1)[0].replace("_", "-") in _SECRET_FLAGS


def secret_flag_env(spelling: str) -> str:
    """The environment variable vLLM reads the secret of this option from."""
    return ENV_FOR_DEST[_SECRET_FLAGS[spelling.split("=", 1)[0].replace("_", "-")]]


def is_secret_env(name: str) -> bool:
    return bool(SECRET_ENV.search(name))


def remember(value: str | None) -> None:
    """Keep `value` out of everything printed from now on (values of 3 characters or fewer would mask
    ordinary words, and are not secrets anyone relies on)."""
    if value is not None and len(value.strip()) > 3:
        _remembered.add(value)
        _remembered.add(value.strip())


def forget_all() -> None:
    """Start a command with nothing remembered (one process may run many commands: tests, CliRunner)."""
    _remembered.clear()


def redact(text: str) -> str:
    """`text` with every remembered secret and every secret-shaped value masked."""
    for value in sorted(_remembered, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={MASK}" if is_secret_env(m.group(1)) else m.group(0), text)
    text = _FLAG_VALUE.sub(lambda m: m.group(1) + MASK, text)
    return _TOKEN_SHAPES.sub(MASK, text)
