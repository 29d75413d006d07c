"""No plan value can inject: hypothesis feeds model ids, served names and env values full of shell and
YAML metacharacters (spaces, quotes, `;`, `$()`, backticks, `${VAR}`, newlines, `#`, unicode), and
every form must hand vLLM exactly the intended words.

- The commands are run by a real bash, with `vllm`/`docker` defined as functions that print their
  arguments: what bash passes is the argv we meant (no expansion, no second command).
- One-line commands also split back with `shlex` into exactly that argv, and shlex with
  `punctuation_chars` (which splits unquoted `;&|()<>`) gives the same words: no unquoted metacharacter.
- Manifests: after YAML parsing and the expansion the consumer applies (the kubelet's `$(VAR)`
  expansion, Compose's `$$`), the container gets exactly the planned argv and env values, and the
  HF token never appears.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_emit_cases import cases

from planner.emit import Deployment, compose, docker_run, k8s, serve_argv, vllm_serve

SECRET = "hf_SECRET-VALUE"
_FRAGMENTS = [" ", "'", '"', ";", "$(", ")", "`", "\n", "\\", "$HF_TOKEN", "${HF_TOKEN}", "$(HF_TOKEN)",
              "&&", "|", "#", "*", "~", "!", "$$", "{", "}", "<", ">", "\t", ": ", "- ", "---", "é", "\u2028"]
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")
_text = st.lists(
    st.sampled_from(_FRAGMENTS) | st.text(_chars, max_size=6),
    min_size=1, max_size=8,
).map("".join)
_model = _text.filter(lambda s: s.strip() != "" and not s.startswith("-"))
_env = st.dictionaries(st.from_regex(r"VLLM_[A-Z0-9_]{1,8}", fullmatch=True), _text, max_size=3)
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _deployment(model: str, served: str | None, env: dict[str, str]) -> Deployment:
    base = cases()["awq-env"]
    return Deployment(model=model, served_model_name=served, args=base.args, vllm_version=base.vllm_version,
                      gpu=base.gpu, num_gpus=base.num_gpus, env=env, port=base.port, name="inj")


def _bash_words(command: str, program: str, env_names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Run `command` in bash with `program` as a function printing its words (and the env it sees).

    Output: NUL-terminated fields: the word count, the words, then each env value (no value holds NUL).
    """
    script = (
        f'{program}() {{ printf "%s\\0" "$#" "$@"; '
        + "".join(f'printf "%s\\0" "${{{n}-<unset>}}"; ' for n in env_names)
        + "}\n" + command + "\n"
    )
    # In an empty scratch folder: were quoting ever broken, a stray `>` must not litter the repository.
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                             timeout=30, cwd=scratch,
                             env={"PATH": "/usr/bin:/bin", "HOME": "/home/u", "HF_TOKEN": SECRET})
    assert out.returncode == 0, out.stderr
    fields = out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
    n = int(fields[0])
    words, values = fields[1:n + 1], fields[n + 1:]
    return words, dict(zip(env_names, values, strict=True))


@_SETTINGS
@given(model=_model, served=st.none() | _model, env=_env)
def test_vllm_serve_passes_exactly_the_planned_words(model: str, served: str | None,
                                                     env: dict[str, str]) -> None:
    d = _deployment(model, served, env)
    argv = serve_argv(d, port=d.port)
    names = sorted(env)
    for one_line in (False, True):
        text = vllm_serve(d, one_line=one_line)
        words, seen_env = _bash_words(text, "vllm", names)
        assert ["vllm", *words] == argv
        assert seen_env == env
        assert SECRET not in text
    one = vllm_serve(d, one_line=True)
    expected = [f"{k}={v}" for k, v in sorted(env.items())] + argv
    assert shlex.split(one) == expected
    lexer = shlex.shlex(one, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    assert list(lexer) == expected


@_SETTINGS
@given(model=_model, served=st.none() | _model, env=_env)
def test_docker_run_passes_exactly_the_planned_words(model: str, served: str | None,
                                                     env: dict[str, str]) -> None:
    d = _deployment(model, served, env)
    text = docker_run(d)
    words, _ = _bash_words(text, "docker", [])
    assert words[:4] == ["run", "--rm", "--name", "inj"]
    assert [words[i + 1] for i, w in enumerate(words) if w == "-e"] == \
        ["HF_TOKEN"] + [f"{k}={v}" for k, v in sorted(env.items())]
    assert ["vllm", *words[words.index(d.image) + 1:]] == serve_argv(d)
    assert SECRET not in text


def _k8s_expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion of command/args/env values, ported from Kubernetes
    third_party/forked/golang/expansion/expand.go (`Expand`/`tryReadVariableName`): `$$` -> `$`,
    `$(NAME)` -> its value when defined (else left as written), any other `$x` kept."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                close = text.find(")", i + 2)
                if close != -1:
                    name = text[i + 2:close]
                    out.append(env.get(name, f"$({name})"))
                    i = close + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


@_SETTINGS
@given(model=_model, served=st.none() | _model, env=_env)
def test_k8s_container_gets_exactly_the_planned_words(model: str, served: str | None,
                                                      env: dict[str, str]) -> None:
    d = _deployment(model, served, env)
    text = k8s(d)
    docs = list(yaml.safe_load_all(text))
    assert [doc["kind"] for doc in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    c = docs[0]["spec"]["template"]["spec"]["containers"][0]
    runtime_env = {"HF_TOKEN": SECRET, **env}
    assert c["command"] + [_k8s_expand(a, runtime_env) for a in c["args"]] == serve_argv(d)
    assert {e["name"]: _k8s_expand(e["value"], runtime_env) for e in c["env"] if "value" in e} == env
    assert SECRET not in text


@_SETTINGS
@given(model=_model, served=st.none() | _model, env=_env)
def test_compose_service_gets_exactly_the_planned_words(model: str, served: str | None,
                                                        env: dict[str, str]) -> None:
    d = _deployment(model, served, env)
    svc = yaml.safe_load(compose(d))["services"]["inj"]
    # Compose reads `$$` as a literal `$`; any single `$` left would be an interpolation.
    for word in svc["command"] + list(svc["environment"].values())[1:]:
        assert "$" not in word.replace("$$", "")
    assert svc["entrypoint"] + [w.replace("$$", "$") for w in svc["command"]] == serve_argv(d)
    assert {k: v.replace("$$", "$") for k, v in svc["environment"].items() if k != "HF_TOKEN"} == env
