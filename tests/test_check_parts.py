"""The parts of planner check: YAML with lines, the shell tokenizer, and each extractor's semantics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.gate import shell
from planner.gate.extract import extract_file, image_version
from planner.gate.rules import Settings, check_invocation
from planner.gate.yamlsrc import LMap, LSeq, LStr, load_documents

# ---- YAML ----------------------------------------------------------------------------------------


def test_lines_of_keys_items_and_documents() -> None:
    text = "a: 1\n---\n# c\nb:\n  - x\n  - y: 2\n    z: |\n      line one\n      line two\n"
    (_d1, l1), (d2, l2) = load_documents(text, name="t")
    assert (l1, l2) == (1, 4)
    assert isinstance(d2, LMap) and d2.line_of("b") == 4
    seq = d2["b"]
    assert isinstance(seq, LSeq) and seq.item_lines == [5, 6]
    z = seq[1]["z"]
    assert isinstance(z, LStr) and z.line == 8 and z.style == "|"      # block text starts after `|`


def test_anchors_are_shared_and_merge_keys_let_explicit_keys_win() -> None:
    text = "base: &b\n  image: i\n  args: [x]\nsvc:\n  <<: *b\n  image: j\nother: *b\n"
    ((doc, _),) = load_documents(text, name="t")
    assert doc["svc"]["image"] == "j" and doc["svc"]["args"] == ["x"]
    assert doc["other"] is doc["base"]
    assert doc["svc"].line_of("args") == 3                              # where the merged key is written


def test_alias_bomb_is_refused_by_its_expanded_size() -> None:
    """Anchors are shared when converted, but the extractors turn lists into argv and text, which
    would expand them: a stream whose aliases expand past MAX_EXPANDED nodes is refused by count."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
              for i in range(1, 12)]
    with pytest.raises(PlannerError, match="aliases expand to more than 1,000,000 nodes") as err:
        load_documents("\n".join(lines) + "\n", name="bomb")
    assert err.value.code == "input_too_large"
    # Five levels (11 x 8^4 = 45,066 nodes expanded) are within the limit, and still shared.
    ((doc, _),) = load_documents("\n".join(lines[:5]) + "\n", name="small")
    assert doc["a4"][0] is doc["a3"]


def test_document_and_node_limits_are_counted_not_timed() -> None:
    from planner.gate.yamlsrc import MAX_DOCUMENTS

    assert len(load_documents("---\na: vllm\n" * MAX_DOCUMENTS, name="ok")) == MAX_DOCUMENTS
    with pytest.raises(PlannerError, match="more than 10,000 YAML documents"):
        load_documents("---\na: vllm\n" * (MAX_DOCUMENTS + 1), name="many")
    with pytest.raises(PlannerError, match="more than 500,000 YAML nodes"):
        load_documents("[" + "1," * 500_001 + "]", name="nodes")


@pytest.mark.parametrize(
    ("text", "match"),
    [("a: [1, 2\n", "not valid YAML.*line 2"),
     ("!!python/object:os.system {}\n", "unsupported YAML tag"),
     ("a: !!python/name:os.system x\n", "unsupported YAML tag"),
     ("? [a, b]\n: 1\n", "unhashable"),
     ("a: &x 1\nb: {<<: *x}\n", "must merge a mapping")],
)
def test_malformed_yaml(text: str, match: str) -> None:
    with pytest.raises(PlannerError, match=match):
        load_documents(text, name="t")


def test_application_tags_are_plain_data() -> None:
    ((doc, _),) = load_documents("Image: !Sub 'vllm/vllm-openai:${Tag}'\nCmd: !Split [x]\n", name="cfn")
    assert doc == {"Image": "vllm/vllm-openai:${Tag}", "Cmd": ["x"]}


def test_size_limit() -> None:
    with pytest.raises(PlannerError, match="larger than"):
        load_documents("a: " + "x" * (9 * 2**20), name="big")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab:-[]{}&*<>|#!\n \"'", max_size=40))
def test_garbage_yaml_raises_only_planner_error(text: str) -> None:
    try:
        load_documents(text, name="g")
    except PlannerError:
        pass


# ---- shell ---------------------------------------------------------------------------------------


def test_tokenize_quotes_continuations_comments_and_separators() -> None:
    script = ("A=1 # set\nvllm serve 'my model' \\\n  --x \"a b\" && echo \"$(date +%s)\"; "
              "python3 -m m --y=1 | tee log\n")
    cmds = [[(w.text, w.line) for w in c] for c in shell.tokenize(script, 10)]
    assert cmds == [[("A=1", 10)], [("vllm", 11), ("serve", 11), ("my model", 11), ("--x", 12), ("a b", 12)],
                    [("echo", 12), ("$(date +%s)", 12)], [("python3", 12), ("-m", 12), ("m", 12), ("--y=1", 12)],
                    [("tee", 12), ("log", 12)]]


def test_tokenize_unterminated_quote() -> None:
    with pytest.raises(PlannerError, match="unterminated"):
        shell.tokenize("vllm serve 'oops\n")


def test_expand_and_assignments() -> None:
    assert shell.expand("${M:-org/m} $N ${N} $UNSET", {"N": "5"}) == "org/m 5 5 $UNSET"
    assert shell.assignments(shell.tokenize("export A=1 B=two")[0]) == {"A": "1", "B": "two"}
    assert shell.assignments(shell.tokenize("vllm serve x")[0]) is None


# ---- extractors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "version", "tag"),
    [("vllm/vllm-openai:v0.9.2", "0.9.2", "v0.9.2"), ("docker.io/vllm/vllm-openai:v0.10.1.1", "0.10.1.1", "v0.10.1.1"),
     ("vllm/vllm-openai:v0.33.0-cu130", "0.33.0", "v0.33.0-cu130"), ("vllm/vllm-openai:latest", None, "latest"),
     ("vllm/vllm-openai", None, ""), ("registry:5000/vllm/vllm-openai:v0.8.5", "0.8.5", "v0.8.5"),
     ("nginx:1.27.0", None, "1.27.0")],
)
def test_image_version(image: str, version: str | None, tag: str) -> None:
    assert image_version(image) == (version, tag)


def test_dockerfile_shell_form_and_last_stage() -> None:
    text = ("FROM python:3.12 AS build\nCMD [\"vllm\", \"serve\", \"wrong\"]\n\n"
            "FROM vllm/vllm-openai:v0.19.0\n"
            "ENTRYPOINT vllm serve Qwen/Qwen3-8B \\\n    --max-model-len 4096\n")
    r = extract_file("Containerfile.txt", text)       # recognised by content, not by name
    assert r.kind == "dockerfile"
    (inv,) = r.invocations
    assert inv.words == ["vllm", "serve", "Qwen/Qwen3-8B", "--max-model-len", "4096"]
    assert inv.word_lines == [5, 5, 5, 6, 6] and inv.vllm_version == "0.19.0"


def test_dockerfile_cmd_with_inherited_vllm_entrypoint() -> None:
    r = extract_file("D", 'FROM vllm/vllm-openai:v0.33.0\nCMD ["org/m", "-tp", "2"]\n')
    assert r.invocations[0].words == ["org/m", "-tp", "2"]
    # Another base image: a CMD of serve flags is not a vLLM invocation.
    assert extract_file("D", 'FROM ubuntu:24.04\nCMD ["org/m", "-tp", "2"]\n').invocations == []


def test_compose_string_command_and_interpolation() -> None:
    text = ("services:\n  llm:\n    image: vllm/vllm-openai:v0.33.0\n"
            "    command: ${MODEL:-org/m} --max-model-len ${LEN:-8192}\n")
    (inv,) = extract_file("c.yml", text).invocations
    assert inv.words == ["org/m", "--max-model-len", "8192"] and inv.word_lines == [4, 4, 4]


def test_compose_entrypoint_override_that_is_not_vllm() -> None:
    text = "services:\n  llm:\n    image: vllm/vllm-openai:v0.33.0\n    entrypoint: [python, app.py]\n"
    assert extract_file("c.yml", text).invocations == []


def test_kserve_own_args_are_not_vllm_flags() -> None:
    text = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: s}
spec:
  predictor:
    model:
      modelFormat: {name: huggingface}
      args: [--model_name=s, --model_id, org/m, --return_probabilities, --max-model-len=4096, --backend, vllm]
"""
    (inv,) = extract_file("isvc.yaml", text).invocations
    assert inv.words == ["org/m", "--max-model-len=4096"] and inv.source == "kserve"
    assert inv.word_lines == [8, 8]


def test_serving_runtime_containers() -> None:
    text = """\
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: vllm-runtime}
spec:
  containers:
    - name: kserve-container
      image: vllm/vllm-openai:v0.33.0
      command: [python3, -m, vllm.entrypoints.openai.api_server]
      args: [--port=8080, --model=/mnt/models, "--served-model-name={{.Name}}"]
"""
    (inv,) = extract_file("rt.yaml", text).invocations
    assert inv.words[-1] == "--served-model-name={{.Name}}" and inv.vllm_version == "0.33.0"


def test_pod_cronjob_and_lws_group_size() -> None:
    cron = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - {name: v, image: "vllm/vllm-openai:v0.33.0", args: [org/m], resources: {limits: {nvidia.com/gpu: 2}}}
"""
    (inv,) = extract_file("cron.yaml", cron).invocations
    assert inv.where == "CronJob/nightly container v" and inv.gpu_count == 2


def test_planner_yaml_forms_and_validation() -> None:
    text = "model: org/m\ngpu: L4\nflags: {max-model-len: 4096, enforce-eager: true, enable-prefix-caching: false}\n"
    (inv,) = extract_file("p.yaml", text).invocations
    assert inv.words == ["org/m", "--max-model-len", "4096", "--enforce-eager", "--no-enable-prefix-caching"]
    assert inv.gpu_label == "L4" and inv.gpu_label_line == 2
    bad = extract_file("p.yaml", "model: org/m\ngpu: L4\nrequirements: {min_contxt: 4096}\n")
    assert bad.unreadable is not None and "unknown requirement 'min_contxt'" in bad.unreadable
    neg = extract_file("p.yaml", "model: org/m\ngpu: L4\nrequirements: {min_concurrency: -1}\n")
    assert neg.unreadable is not None and "must be positive" in neg.unreadable


def test_windows_line_endings() -> None:
    text = "#!/bin/sh\r\nvllm serve org/m \\\r\n  --max-model-len 4096\r\n"
    (inv,) = extract_file("run.sh", text).invocations
    assert inv.words == ["vllm", "serve", "org/m", "--max-model-len", "4096"] and inv.word_lines[-1] == 3


def test_text_that_only_looks_like_yaml_is_not_malformed_in_a_walk() -> None:
    """A folder walk meets JSON lines and package metadata that mention vLLM: not ours, passed over.
    Named on the command line, the same text is refused (a file named for checking is never passed
    unread)."""
    jsonl = '{"id": "c001", "vllm_version": "0.10.1.1"}\n{"id": "c002", "vllm_version": "0.19.0"}\n'
    pkg_info = "Metadata-Version: 2.4\nName: vllm-planner\n\n# vllm-planner\n- a: [b\n"
    for text in (jsonl, pkg_info):
        r = extract_file("x", text, explicit=False)
        assert r.unreadable is None and r.invocations == [] and r.findings == []
        assert extract_file("x", text, explicit=True).unreadable is not None
    broken_compose = "services:\n  vllm:\n    image: vllm/vllm-openai:v0.33.0\n    command: [a\n"
    assert extract_file("c", broken_compose).unreadable is not None


def test_prose_is_not_parsed_as_yaml() -> None:
    text = "# Serving\n\nRun vllm serve org/m: it works.\n- gpu: [unbalanced\n"
    r = extract_file("README.md", text)
    assert r.unreadable is None and r.kind is None and r.invocations == []
    assert extract_file("values", "apiVersion: v1\nkind: Pod\n").kind == "kubernetes"


def test_non_vllm_content_yields_nothing(tmp_path: Path) -> None:
    assert extract_file("x.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n").invocations == []
    assert extract_file("s.sh", "#!/bin/sh\necho vllm serve is great\n").invocations == []


# ---- robustness: nothing but findings or `unreadable` comes out of arbitrary input ----------------

_SETTINGS = Settings()      # shared: model and estimate caches make the examples cheap

_ARG_WORDS = st.one_of(
    st.sampled_from(["-tp", "2", "-pp", "3", "--max-model-len", "32K", "auto", "--swap-space",
                     "--gpu-memory-utilization", "0.99", "1.5", "--enforce-eager", "--quantization", "awq",
                     "fp8", "--kv-cache-dtype", "-O3",
                     "--dtype", "half", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B", "$(X)", "${Y:-4}",
                     "--max-num-seqs", "0", "-1", "--served-model-name", "--", "--compilation-config.mode", "{"]),
    st.text(alphabet="-_=.:abcdefgmnoprstuvxyz0123456789KkG", max_size=10),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_ARG_WORDS, max_size=10), st.sampled_from(["NVIDIA-L4", "NVIDIA-H100-80GB-HBM3", "bogus"]),
       st.sampled_from(["v0.33.0", "v0.10.1.1", "latest", "v0.6.6", "v9.9.9"]), st.integers(0, 9))
def test_any_container_args_give_findings_not_exceptions(words: list[str], label: str, tag: str, gpus: int) -> None:
    args = ", ".join(json.dumps(w) for w in words)
    text = (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n"
            f"  nodeSelector: {{nvidia.com/gpu.product: {label}}}\n"
            f"  containers:\n    - name: v\n      image: vllm/vllm-openai:{tag}\n      args: [{args}]\n"
            f"      resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}\n")
    result = extract_file("p.yaml", text)
    assert result.unreadable is None
    for inv in result.invocations:
        for f in check_invocation(inv, _SETTINGS):
            assert f.severity in ("error", "warning") and f.line >= 1 and f.message


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="vlm serv-:=\n #!/\"'[]{}$()\\&;|abcdeFROMCMDENTRYPOINTservices", max_size=120))
def test_any_text_is_extracted_or_unreadable(text: str) -> None:
    for name in ("x.yaml", "x.sh", "Dockerfile"):
        result = extract_file(name, "vllm\n" + text)
        assert result.unreadable is None or isinstance(result.unreadable, str)
