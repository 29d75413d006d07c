"""Find vLLM server launches in files, recognised by content: Kubernetes manifests (incl. Helm output,
LeaderWorkerSet, KServe), docker-compose files, Dockerfiles, shell scripts and planner.yaml.

Each extractor yields `Invocation`s: the argv with the line of every word, and what the file says about
where it runs (GPU count and model, image and vLLM version, env, readiness probe, overrides).
Parsing the argv and judging it is the rules' job (planner/gate/rules.py).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from typing import Any

from planner.errors import PlannerError
from planner.gate import shell
from planner.gate.model import FileResult, Finding, Invocation, Requirements
from planner.gate.yamlsrc import Document, LMap, LSeq, LStr, load_stream
from planner.release.engine_args import parse_human_int
from planner.release.serve_args import find_launcher

# GPU Feature Discovery's product label, and the cloud node labels that name the accelerator.
GPU_LABELS = ("nvidia.com/gpu.product", "cloud.google.com/gke-accelerator", "karpenter.k8s.aws/instance-gpu-name")
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
ANNOTATION_PREFIX = "planner.io/"
# Pod-template paths per workload kind (apps/v1, batch/v1; leaderworkerset.x-k8s.io/v1).
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_SHELLS = {"sh", "bash", "zsh", "dash", "ash"}
# Arguments KServe's Hugging Face runtime takes for itself; everything else it hands to vLLM's engine
# argument parser. The model-server ones are read from kserve 0.21.0 (PyPI wheel, kserve/model_server.py);
# the runtime's own are those of the KServe docs' Hugging Face examples and of huggingfaceserver's
# __main__.py in the kserve repository (python/huggingfaceserver; not packaged on PyPI).
KSERVE_SERVER_ARGS = {
    "--access_log_format", "--configure_logging", "--enable_docs_url", "--enable_grpc", "--enable_latency_logging",
    "--enable_predictor_health_check", "--grpc_max_receive_message_length", "--grpc_max_send_message_length",
    "--grpc_port", "--http_port", "--log_config_file", "--max_asyncio_workers", "--max_threads", "--model_name",
    "--predictor_host", "--predictor_protocol", "--predictor_request_retries",
    "--predictor_request_timeout_seconds", "--predictor_use_ssl", "--protocol", "--ssl_certfile", "--ssl_keyfile",
    "--workers",
}
KSERVE_HF_ARGS = {"--model_id", "--model_dir", "--model_revision", "--tokenizer_revision", "--backend", "--task",
                  "--max_length", "--return_probabilities", "--return_token_type_ids", "--return_raw_logits",
                  "--disable_lower_case", "--disable_special_tokens", "--tensor_input_names"}
KSERVE_OWN_ARGS = KSERVE_SERVER_ARGS | KSERVE_HF_ARGS
_OVERRIDE = re.compile(r"#\s*planner:\s*(.+)$")
_VERSION_IN_TAG = re.compile(r"v?(\d+\.\d+\.\d+(?:\.\d+)?)")


def is_vllm_image(image: str | None) -> bool:
    return image is not None and "vllm" in image.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def image_version(image: str | None) -> tuple[str | None, str]:
    """(vLLM version, tag) from an image reference such as `vllm/vllm-openai:v0.9.2` or `...:v0.9.2-cu128`."""
    if not image:
        return None, ""
    ref = image.split("@", 1)[0]
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    if not is_vllm_image(name or ref):
        return None, tag
    m = _VERSION_IN_TAG.match(tag)
    return (m.group(1) if m else None), tag


def parse_overrides(text: str) -> dict[str, str]:
    """`gpu=H100-SXM-80GB vllm=0.33.0 ignore=image-latest` -> dict."""
    out: dict[str, str] = {}
    for part in text.split():
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return out


def comment_overrides(text: str) -> list[tuple[int, dict[str, str]]]:
    """Every `# planner: key=value ...` comment with its line."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _OVERRIDE.search(line)
        if m:
            out.append((n, parse_overrides(m.group(1))))
    return out


def apply_overrides(inv: Invocation, overrides: dict[str, str], line: int | None = None) -> None:
    """Overrides stated in the file (a comment on `line`, or annotations): gpu, gpus (count), vllm
    (version), model, ignore (rule ids)."""
    inv.overrides.update(overrides)
    if "gpu" in overrides:
        inv.gpu_label, inv.gpu_choices = overrides["gpu"], ()
        inv.gpu_label_line = line or inv.gpu_label_line
    if "gpus" in overrides:
        try:
            inv.gpu_count = int(overrides["gpus"])
        except ValueError:
            inv.notes.append(Finding(inv.file, line or inv.line, "override-invalid", "warning",
                                     f"planner override gpus={overrides['gpus']!r} is not a whole number",
                                     "write the GPU count as a number, e.g. gpus=2", inv.where))
    if "vllm" in overrides:
        inv.vllm_version, inv.version_source = overrides["vllm"].lstrip("v"), "planner override"
    if "model" in overrides:
        inv.model_override = overrides["model"]
    if "ignore" in overrides:
        inv.ignore = inv.ignore | frozenset(r.strip() for r in overrides["ignore"].split(",") if r.strip())


# ---- recognising a file ---------------------------------------------------------------------------

def looks_like_dockerfile(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        return bool(re.match(r"(?i)(FROM|ARG)\s+\S", line)) and bool(re.search(r"(?im)^\s*FROM\s+\S", text))
    return False


def looks_like_shell(text: str, path: str) -> bool:
    first = text.split("\n", 1)[0]
    return bool(re.match(r"#!.*\b(ba|z|da|a)?sh\b", first)) or path.endswith((".sh", ".bash"))


def looks_like_yaml(text: str) -> bool:
    """A YAML stream of mappings or lists: the first line that is not blank or a comment is `---`,
    `%YAML`, `key:` or `- `. Prose (a README that mentions vLLM) is not parsed as YAML."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        return bool(re.match(r"(---|%YAML|- |-$|[\"']?[\w./-]+[\"']?\s*:(\s|$)|\{)", line))
    return False


def extract_file(path: str, text: str, *, explicit: bool = True) -> FileResult:
    """Recognise the file by content and extract its invocations. Malformed input -> `unreadable`;
    a file that launches vLLM in a way this cannot follow -> a `not-understood` finding.

    `explicit`: the file was named on the command line (or is stdin), so a file of a kind this reads
    that mentions vLLM and yields no invocation is reported, never passed in silence."""
    result = FileResult(path)
    text = text.replace("\r\n", "\n")          # files saved on Windows: continuations end in \r\n
    try:
        _extract(path, text, result, explicit)
    except PlannerError as err:
        # The report names the file already; keep only the reason.
        result.unreadable = err.message.removeprefix(f"{path}: ")
        result.invocations = []
        result.findings = []
    if "not-understood" in _file_ignores(text):
        result.findings = [f for f in result.findings if f.rule != "not-understood"]
    return result


def _file_ignores(text: str) -> set[str]:
    """Rule ids silenced for the whole file by a `# planner: ignore=...` comment."""
    out: set[str] = set()
    if "planner" in text:
        for _line, ov in comment_overrides(text):
            out |= {r.strip() for r in ov.get("ignore", "").split(",") if r.strip()}
    return out


def mentions_vllm(text: str) -> bool:
    return "vllm" in text.lower()


# What says a text launches vLLM (as opposed to naming it: a Service called vllm, a metrics name):
# `vllm serve`, vLLM's server modules, `-m vllm`, or an image of vLLM's.
_LAUNCH_TEXT = re.compile(r"(?i)\bvllm\b[\"',\s\]\[]*serve\b|vllm\.entrypoints|-m\s+vllm\b")
_IMAGE_KEYS = ("image", "repository", "newName")


def _launch_signal(value: Any, depth: int = 0) -> bool:
    """A YAML value launches vLLM somewhere: a vLLM image under an image/repository key, a string or a
    list of words that runs `vllm serve` or vLLM's server module."""
    if depth > 64:
        return False
    if isinstance(value, str):
        return bool(_LAUNCH_TEXT.search(value))
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _IMAGE_KEYS and isinstance(v, str) and is_vllm_image(v.split("@", 1)[0].rsplit(":", 1)[0]
                                                                         if "/" in v or ":" in v else None):
                return True
            if _launch_signal(v, depth + 1):
                return True
        return False
    if isinstance(value, list):
        words = [str(v).rsplit("/", 1)[-1] for v in value if isinstance(v, str)]
        if any(words[i] == "vllm" and words[i + 1] == "serve" for i in range(len(words) - 1)):
            return True
        return any(_launch_signal(v, depth + 1) for v in value if isinstance(v, (dict, list, str)))
    return False


def _not_understood(path: str, line: int, what: str, hint: str) -> Finding:
    return Finding(path, line, "not-understood", "error", f"{what}; nothing in it was checked",
                   hint + "; or add `# planner: ignore=not-understood` if it launches no vLLM server")


_DOCKERFILE_NAME = re.compile(r"(?i)^(dockerfile|containerfile)([._-].*)?$|\.(dockerfile|containerfile)$")
_YAML_NAME = re.compile(r"(?i)\.(ya?ml|json)$")
_PLANNER_NAME = re.compile(r"(?i)^planner\.ya?ml$")


def deployment_name(path: str) -> bool:
    """A file name of a kind `planner check` reads (used to decide which skipped files to mention)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return bool(_DOCKERFILE_NAME.search(name) or _YAML_NAME.search(name) or name.endswith((".sh", ".bash")))


def is_planner_name(path: str) -> bool:
    return bool(_PLANNER_NAME.match(path.replace("\\", "/").rsplit("/", 1)[-1]))


def _extract(path: str, text: str, result: FileResult, explicit: bool) -> None:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if looks_like_dockerfile(text) or (_DOCKERFILE_NAME.search(name) and not _YAML_NAME.search(name)):
        result.kind = "dockerfile"
        result.invocations = list(_dockerfile(path, text, result))
        if not result.invocations and _dockerfile_launches(text):
            result.findings.append(_not_understood(
                path, 1, "this Dockerfile runs vLLM, but no `vllm serve` command line could be read from its "
                "ENTRYPOINT/CMD", "write CMD in exec form, e.g. CMD [\"vllm\", \"serve\", \"MODEL\"]"))
    elif looks_like_shell(text, path):
        result.kind = "shell"
        result.invocations = list(_shell_script(path, text))
        if not result.invocations and _LAUNCH_TEXT.search(text):
            line = next((n for n, ln in enumerate(text.split("\n"), 1) if _LAUNCH_TEXT.search(ln)), 1)
            result.findings.append(_not_understood(
                path, line, "this script mentions `vllm serve`, but no command that runs it could be read",
                "write the command as a plain `vllm serve MODEL --flag value` line"))
    elif looks_like_yaml(text) or _YAML_NAME.search(name) or is_planner_name(path):
        _yaml_file(path, text, result, explicit)
    for inv in result.invocations:
        inv.source = inv.source or result.kind or ""


def _dockerfile_launches(text: str) -> bool:
    """FROM a vLLM image, or an ENTRYPOINT/CMD that names vLLM's server."""
    for line in text.split("\n"):
        m = re.match(r"\s*(FROM|ENTRYPOINT|CMD)\s+(.*)", line, re.IGNORECASE)
        if not m:
            continue
        if m.group(1).upper() == "FROM":
            ref = (m.group(2).split() or [""])[0]
            if is_vllm_image(ref.split("@", 1)[0]):
                return True
        elif _LAUNCH_TEXT.search(m.group(2)) or re.search(r"(?i)\bvllm\b", m.group(2)):
            return True
    return False


# The first key of the kinds of file this reads (Kubernetes, compose, planner.yaml): a file that starts
# like one and does not parse is malformed; any other text that fails to parse is simply not ours.
_OUR_FIRST_KEY = re.compile(r"[{\[\s\"']*(apiVersion|kind|metadata|spec|items|services|include|version|name"
                            r"|x-[\w-]+|volumes|networks|deployments|model|gpus?|flags|requirements|vllm)[\"']?\s*:")
# A Go template action on a line that is not a comment: Helm/Go templates are not YAML until rendered.
_TEMPLATE = re.compile(r"(?m)^[^#\n]*\{\{-?\s*[.$A-Za-z(\\/\"-]")


def _starts_like_ours(text: str) -> bool:
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "---", "%")):
            return bool(_OUR_FIRST_KEY.match(raw))
    return False


def _json_error(text: str) -> str | None:
    """The reason a JSON text (one that starts with `{` or `[`) does not parse, else None."""
    try:
        json.loads(text)
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        return f"not valid JSON: {exc}"
    return None


def _yaml_file(path: str, text: str, result: FileResult, explicit: bool) -> None:
    try:
        docs = load_stream(text, name=path)
    except PlannerError as err:
        stripped = text.lstrip()
        if err.code != "input_too_large" and stripped[:1] in ("{", "[") and (explicit or _starts_like_ours(text)):
            # A JSON manifest (kubectl -o json, generated files): JSON's own message says where it broke.
            problem = _json_error(text)
            if problem is not None:
                raise PlannerError(problem, code="malformed_input") from None
        if err.code != "input_too_large" and _TEMPLATE.search(text):
            # An unrendered Helm/Go template is not YAML yet.
            result.skipped = "an unrendered Helm template; check its output: helm template ... | planner check -"
            return
        if explicit or err.code == "input_too_large" or _starts_like_ours(text) or _YAML_NAME.search(path):
            raise
        return                     # a walk found text that only looks like YAML (JSON lines, metadata, ...)
    comments = comment_overrides(text)
    separators = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("---")]
    kinds: list[str] = []
    planner_name = is_planner_name(path)
    not_understood: list[Finding] = []
    for doc in docs:
        # A `# planner:` comment belongs to the document between the separators around it.
        at = bisect.bisect_left(separators, doc.line)
        start = separators[at - 1] if at > 0 else 0
        end = separators[at] if at < len(separators) else 1 << 30
        doc_comments = [(line, ov) for line, ov in comments[bisect.bisect_right(comments, start, key=_first):]
                        if line < end] if comments else []
        found, kind = _yaml_document(path, doc.value)
        if kind:
            kinds.append(kind)
        for inv in found:
            inv.source = inv.source or kind or ""
            for line, ov in doc_comments:
                apply_overrides(inv, ov, line)
            result.invocations.append(inv)
        if not found:
            finding = _document_not_understood(path, doc, kind, explicit, planner_name)
            if finding is not None:
                not_understood.append(finding)
    if not_understood:
        # One finding per file: a stream of 10,000 such documents is one problem, not 10,000.
        first = not_understood[0]
        more = f" (and {len(not_understood) - 1} more document(s) like it)" if len(not_understood) > 1 else ""
        result.findings.append(Finding(first.file, first.line, first.rule, first.severity,
                                       first.message + more, first.hint))
    result.kind = "+".join(dict.fromkeys(kinds)) or ("planner" if planner_name else "yaml")


def _first(item: tuple[int, dict[str, str]]) -> int:
    return item[0]


def _document_not_understood(path: str, doc: Document, kind: str | None, explicit: bool,
                             planner_name: bool) -> Finding | None:
    """A YAML document that yielded no invocation: fine when it names vLLM without launching it
    (a Service, a ConfigMap); a finding when it launches vLLM in a way not followed, or when a file
    named explicitly (or a planner.yaml) holds a document of no kind this reads that mentions vLLM."""
    value = doc.value
    if planner_name and kind is None:
        keys = ", ".join(sorted(str(k) for k in value)[:5]) if isinstance(value, dict) else type(value).__name__
        return _not_understood(path, doc.line, f"this planner.yaml has no `model` (found: {keys})",
                               "a planner.yaml names `model` and `gpu`, `flags`, `requirements` or `vllm`, "
                               "or lists them under `deployments:`")
    if kind == "compose" and isinstance(value, dict) and "services" not in value and mentions_vllm(doc.text):
        return _not_understood(path, doc.line, "this compose file only includes others (`include:`), "
                               "which are not followed", "name the included files on the command line too")
    if kind == "kubernetes" and mentions_vllm(doc.text) and any(
            isinstance(c, LMap) and not c.get("image") for spec in _pod_specs(value) for c in spec["containers"]):
        # Kubernetes requires an image: a container without one is a patch (Kustomize strategic merge).
        return _not_understood(path, doc.line, "a container without an image (a Kustomize patch?) in a "
                               "document that mentions vLLM", "check the built output: "
                               "kubectl kustomize ... | planner check -")
    if kind in ("kubernetes", "compose"):
        if _launch_signal(value):
            what = "Kubernetes object" if kind == "kubernetes" else "compose file"
            return _not_understood(path, doc.line, f"this {what} runs vLLM, but no `vllm serve` command line "
                                   "could be read from it", "give the container/service a command or args "
                                   "list that runs `vllm serve MODEL ...`, or use the vllm/vllm-openai image")
        return None
    if kind is not None or not mentions_vllm(doc.text):
        return None
    if not explicit and not _launch_signal(value):
        return None
    hint = ("if it is a Helm values file or a Kustomize patch, check the rendered output: "
            "helm template ... | planner check - (or kubectl kustomize ... | planner check -)")
    return _not_understood(path, doc.line, "a YAML document that mentions vLLM but is not a Kubernetes object, "
                           "a compose file or a planner.yaml", hint)


def _yaml_document(path: str, doc: Any) -> tuple[list[Invocation], str | None]:
    if not isinstance(doc, LMap):
        return [], None
    if isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str):
        if doc["kind"] == "List" and isinstance(doc.get("items"), LSeq):
            out = [inv for item in doc["items"] for inv in _k8s_object(path, item)]
            return out, "kubernetes"
        return list(_k8s_object(path, doc)), "kubernetes"
    services = doc.get("services")
    if isinstance(services, LMap) and all(isinstance(s, LMap) for s in services.values()):
        return list(_compose(path, services)), "compose"
    if isinstance(doc.get("include"), LSeq) and services is None:
        return [], "compose"          # services only in the included files (reported if it runs vLLM)
    if "model" in doc and any(k in doc for k in ("gpu", "flags", "requirements", "vllm")):
        return [_planner_entry(path, doc, doc.line)], "planner"
    if isinstance(doc.get("deployments"), LSeq):
        entries = [e for e in doc["deployments"] if isinstance(e, LMap) and "model" in e]
        if entries:
            return [_planner_entry(path, e, e.line) for e in entries], "planner"
    if isinstance(doc.get("containers"), LSeq) or isinstance(_get(doc, "spec", "containers"), LSeq) \
            or isinstance(_get(doc, "template", "spec", "containers"), LSeq):
        # A pod spec or pod template on its own (a snippet, a chart's values): its containers are read.
        found = [inv for spec in _pod_specs(doc) for inv in _pod(path, "pod spec", spec, [], group=1)]
        return found, "kubernetes" if found else None
    return [], None


def _pod_specs(obj: Any, depth: int = 0) -> Iterator[LMap]:
    """Mappings with a `containers` list anywhere in obj (pod specs of kinds this does not know)."""
    if depth > 32:
        return
    if isinstance(obj, LMap):
        if isinstance(obj.get("containers"), LSeq):
            yield obj
            return
        for v in obj.values():
            yield from _pod_specs(v, depth + 1)
    elif isinstance(obj, LSeq):
        for v in obj:
            yield from _pod_specs(v, depth + 1)


# ---- Kubernetes -----------------------------------------------------------------------------------

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _annotations(*metas: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for meta in metas:
        ann = _get(meta, "annotations")
        if isinstance(ann, dict):
            for k, v in ann.items():
                if isinstance(k, str) and k.startswith(ANNOTATION_PREFIX) and v is not None:
                    out[k[len(ANNOTATION_PREFIX):].lower()] = str(v)
    return out


def _k8s_object(path: str, obj: Any) -> Iterator[Invocation]:
    if not isinstance(obj, LMap):
        return
    kind = obj.get("kind")
    name = _get(obj, "metadata", "name") or "?"
    ident = f"{kind}/{name}"
    if kind == "Pod":
        yield from _pod(path, ident, obj.get("spec"), [obj.get("metadata")], group=1)
    elif kind in _TEMPLATE_PATHS:
        template = _get(obj, *_TEMPLATE_PATHS[kind])
        yield from _pod(path, ident, _get(template, "spec"), [obj.get("metadata"), _get(template, "metadata")],
                        group=1)
    elif kind == "LeaderWorkerSet":
        lwt = _get(obj, "spec", "leaderWorkerTemplate")
        size = _get(lwt, "size")
        group = size if isinstance(size, int) and size > 0 else 1
        leader = _get(lwt, "leaderTemplate") or _get(lwt, "workerTemplate")
        yield from _pod(path, ident, _get(leader, "spec"), [obj.get("metadata"), _get(leader, "metadata")],
                        group=group)
    elif kind == "ServingRuntime" or kind == "ClusterServingRuntime":
        yield from _pod(path, ident, obj.get("spec"), [obj.get("metadata")], group=1)
    elif kind == "InferenceService":
        yield from _inference_service(path, ident, obj)
    elif "containers" in (obj.get("spec") or {}) or "template" in (obj.get("spec") or {}) \
            or kind in ("RayService", "RayCluster", "RayJob", "Workflow", "Rollout"):
        # Kinds this does not know (Argo Rollouts, KubeRay, operators' CRDs): their pod specs are read.
        for spec in _pod_specs(obj.get("spec")):
            yield from _pod(path, ident, spec, [obj.get("metadata")], group=1)


def _pod(path: str, ident: str, spec: Any, metas: list[Any], *, group: int) -> Iterator[Invocation]:
    if not isinstance(spec, LMap):
        return
    containers = spec.get("containers")
    if not isinstance(containers, LSeq):
        return
    gpu_label, gpu_line, choices = _gpu_from_pod(spec)
    ann = _annotations(*metas)
    for container in containers:
        if not isinstance(container, LMap):
            continue
        inv = _container(path, ident, container)
        if inv is None:
            continue
        inv.replicas_per_group = group
        if gpu_label:
            inv.gpu_label, inv.gpu_label_line, inv.gpu_choices = gpu_label, gpu_line, choices
        apply_overrides(inv, ann)
        yield inv


def _gpu_from_pod(spec: LMap) -> tuple[str | None, int | None, tuple[str, ...]]:
    """The GPU model the pod is pinned to: nodeSelector, else required node affinity (all allowed values)."""
    sel = spec.get("nodeSelector")
    if isinstance(sel, LMap):
        for label in GPU_LABELS:
            if sel.get(label):
                return str(sel[label]), sel.line_of(label), ()
    terms = _get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                 "nodeSelectorTerms")
    values: list[str] = []
    line = None
    if isinstance(terms, LSeq):
        for term in terms:
            for expr in _get(term, "matchExpressions") or []:
                if isinstance(expr, LMap) and expr.get("key") in GPU_LABELS and expr.get("operator") == "In":
                    vals = expr.get("values")
                    if isinstance(vals, LSeq):
                        values += [str(v) for v in vals]
                        line = line or expr.line
    if values:
        return values[0], line, tuple(dict.fromkeys(values))
    return None, None, ()


def _gpu_count(resources: Any) -> int | None:
    for section in ("limits", "requests"):
        res = _get(resources, section)
        if isinstance(res, dict):
            for key in GPU_RESOURCES:
                if key in res:
                    try:
                        return int(str(res[key]))
                    except ValueError:
                        return None
    return None


def _k8s_env(container: LMap) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item:
            env[item["name"]] = "" if item["value"] is None else str(item["value"])
    return env


_K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _keep_position(new: str, old: object) -> str:
    """Carry a YAML string's line through a substitution (a script's words are counted from it)."""
    return LStr(new, old.line, old.style) if isinstance(old, LStr) else new


def _k8s_expand(word: object, env: dict[str, str]) -> str:
    """Kubernetes expands $(VAR) in command/args from the container's env; unknown refs stay as is."""
    return _keep_position(_K8S_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), str(word)), word)


def _container(path: str, ident: str, c: LMap) -> Invocation | None:
    image = c.get("image") if isinstance(c.get("image"), str) else None
    command, args = c.get("command"), c.get("args")
    env = _k8s_env(c)
    words: list[str] = []
    lines: list[int] = []
    for seq in (command, args):
        if isinstance(seq, LSeq):
            words += [_k8s_expand(w, env) for w in seq]
            lines += seq.item_lines
        elif isinstance(seq, str):      # some charts give one string
            words.append(_k8s_expand(seq, env))
            lines.append(seq.line if isinstance(seq, LStr) else c.line)
    where = f"{ident} container {c.get('name', '?')}"
    inv = _from_words(path, where, words, lines, image=image, entrypoint_default=command is None)
    if inv is None:
        return None
    inv.image, inv.image_line = image, c.line_of("image")
    inv.env = {**env, **inv.env}
    inv.gpu_count = _gpu_count(c.get("resources"))
    probe = c.get("readinessProbe")
    if isinstance(probe, LMap):
        http = _get(probe, "httpGet", "path")
        inv.readiness = "health" if http == "/health" else "other"
        inv.readiness_line = c.line_of("readinessProbe")
    else:
        inv.readiness, inv.readiness_line = "missing", c.line
    return inv


def _from_words(path: str, where: str, words: list[str], lines: list[int], *, image: str | None,
                entrypoint_default: bool, variables: dict[str, str] | None = None) -> Invocation | None:
    """An Invocation from a container's argv: vLLM launched directly (after wrappers such as `sudo`,
    `env A=1`, `nohup`, `tini --`), through `sh -c`, or by the vllm/vllm-openai image's entrypoint
    when no command is given."""
    version, _tag = image_version(image)
    start, assigned = shell.command_start([str(w) for w in words])
    head, head_lines = words[start:], lines[start:]
    if head and head[0].rsplit("/", 1)[-1] in _SHELLS:
        # sh -c "script" [$0 ...]: the script is the word after the -c option cluster.
        idx = next((i for i, w in enumerate(head[1:], 1) if w.startswith("-") and "c" in w[1:]), None)
        if idx is not None and idx + 1 < len(head):
            script = head[idx + 1]
            # A block scalar's text starts on the line after `|`, which is not its item line.
            line = script.line if isinstance(script, LStr) else head_lines[idx + 1]
            return _first_in_script(path, where, script, line, {**(variables or {}), **assigned}, image=image)
        return None
    if head and find_launcher(head) is not None:
        inv = Invocation(path, head_lines[0], where, head, head_lines)
        inv.env = dict(assigned)
    elif entrypoint_default and is_vllm_image(image):
        # No command: the image's entrypoint (`vllm serve`, `python3 -m vllm.entrypoints.openai.api_server`
        # in older tags) receives `args`, which are therefore serve arguments.
        inv = Invocation(path, lines[0] if lines else 1, where, words, lines)
    else:
        return None
    if version:
        inv.vllm_version, inv.version_source = version, f"image {image}"
    return inv


def _first_in_script(path: str, where: str, script: str, first_line: int, variables: dict[str, str],
                     *, image: str | None) -> Invocation | None:
    found = list(_script_invocations(path, where, script, first_line, dict(variables)))
    if not found:
        return None
    inv = found[0]
    version, _ = image_version(image)
    if version:
        inv.vllm_version, inv.version_source = version, f"image {image}"
    return inv


# `$(...)` and `bash -c '...'` inside scripts are followed this deep (each level is a script of its own).
_MAX_SCRIPT_DEPTH = 8


def _script_invocations(path: str, where: str, script: str, first_line: int,
                        variables: dict[str, str], depth: int = 0) -> Iterator[Invocation]:
    """Every vLLM launch in a script: commands after `if`/`then`/`do`, behind wrappers (`sudo`,
    `nohup`, `exec`, `time`, `env A=1`), inside `$(...)` and backquotes, and in `sh -c '...'`."""
    if depth > _MAX_SCRIPT_DEPTH:
        return
    for command in shell.tokenize(script, first_line):
        for w in command:
            if "$(" in w.text or "`" in w.text:
                for inner, line in shell.substitutions(w.text, w.line):
                    yield from _script_invocations(path, where, inner, line, dict(variables), depth + 1)
        assigned = shell.assignments(command)
        if assigned is not None:
            variables.update({k: shell.expand(v, variables) for k, v in assigned.items()})
            continue
        words = [shell.expand(w.text, variables) for w in command]
        start, env = shell.command_start(words)
        words, wlines = words[start:], [w.line for w in command[start:]]
        if words and words[0].rsplit("/", 1)[-1] in _SHELLS:
            idx = next((i for i, w in enumerate(words[1:], 1) if w.startswith("-") and "c" in w[1:]), None)
            if idx is not None and idx + 1 < len(words):
                yield from _script_invocations(path, where, words[idx + 1], wlines[idx + 1],
                                               {**variables, **env}, depth + 1)
            continue
        if find_launcher(words) is not None:
            inv = Invocation(path, wlines[0], where, words, wlines)
            inv.env = {**{k: v for k, v in variables.items() if k.startswith(("VLLM_", "HF_"))}, **env}
            yield inv


def _inference_service(path: str, ident: str, obj: LMap) -> Iterator[Invocation]:
    predictor = _get(obj, "spec", "predictor")
    if not isinstance(predictor, LMap):
        return
    metas = [obj.get("metadata")]
    model = predictor.get("model")
    gpu_label, gpu_line, choices = _gpu_from_pod(predictor)
    if isinstance(model, LMap):
        fmt = _get(model, "modelFormat", "name")
        args = model.get("args")
        if fmt == "huggingface" and isinstance(args, LSeq):
            inv = _kserve_hf(path, f"{ident} predictor", model, args)
            inv.gpu_count = _gpu_count(model.get("resources"))
            if gpu_label:
                inv.gpu_label, inv.gpu_label_line, inv.gpu_choices = gpu_label, gpu_line, choices
            apply_overrides(inv, _annotations(*metas))
            yield inv
    containers = predictor.get("containers")
    if isinstance(containers, LSeq):
        yield from _pod(path, f"{ident} predictor", predictor, metas, group=1)


def _kserve_hf(path: str, where: str, model: LMap, args: LSeq) -> Invocation:
    """KServe's Hugging Face runtime: its own args name the model; the rest are vLLM engine args."""
    words: list[str] = []
    lines: list[int] = []
    model_id = None
    storage = model.get("storageUri")
    if isinstance(storage, str) and storage.startswith("hf://"):
        model_id = storage[len("hf://"):]
    skip_next = False
    for i, raw in enumerate(args):
        word = str(raw)
        if skip_next:
            skip_next = False
            continue
        flag, eq, value = word.partition("=")
        if flag in KSERVE_OWN_ARGS:
            nxt = str(args[i + 1]) if i + 1 < len(args) else None
            # `--flag value` unless the flag is a switch (the next word is another option).
            skip_next = not eq and nxt is not None and not nxt.startswith("-")
            if flag == "--model_id":
                model_id = value if eq else (nxt if skip_next else None)
            continue
        words.append(word)
        lines.append(args.line_of(i))
    if model_id:
        words = [model_id, *words]
        lines = [args.line, *lines]
    inv = Invocation(path, args.line, where, words, lines)
    inv.readiness = "n/a"          # KServe manages the probes
    inv.source = "kserve"
    return inv


# ---- docker-compose ------------------------------------------------------------------------------

_COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _compose_expand(word: object) -> str:
    """Compose interpolation: `${X:-default}` -> default (the environment is not known here)."""
    return _keep_position(_COMPOSE_VAR.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(0),
                                           str(word)), word)


def _compose(path: str, services: LMap) -> Iterator[Invocation]:
    for name, svc in services.items():
        image = svc.get("image") if isinstance(svc.get("image"), str) else None
        words: list[str] = []
        lines: list[int] = []
        entry, command = svc.get("entrypoint"), svc.get("command")
        for value in (entry, command):
            if isinstance(value, LSeq):
                words += [_compose_expand(w) for w in value]
                lines += value.item_lines
            elif isinstance(value, str):
                # Compose splits a string command like a shell would, without running a shell.
                for cmd in shell.tokenize(value, value.line if isinstance(value, LStr) else svc.line):
                    words += [_compose_expand(w.text) for w in cmd]
                    lines += [w.line for w in cmd]
        env = _compose_env(svc.get("environment"))
        inv = _from_words(path, f"service {name}", words, lines, image=image,
                          entrypoint_default=entry is None, variables=env)
        if inv is None:
            continue
        inv.image, inv.image_line = image, svc.line_of("image")
        inv.env = {**env, **inv.env}
        inv.gpu_count = _compose_gpus(svc)
        hc = svc.get("healthcheck")
        test = _get(hc, "test")
        text = " ".join(str(t) for t in test) if isinstance(test, list) else str(test or "")
        inv.readiness = "health" if "/health" in text else ("other" if hc else "missing")
        inv.readiness_line = svc.line_of("healthcheck") if hc else services.line_of(name)
        yield inv


def _compose_env(value: Any) -> dict[str, str]:
    env: dict[str, str] = {}
    if isinstance(value, dict):
        env = {str(k): "" if v is None else str(v) for k, v in value.items()}
    elif isinstance(value, list):
        for item in value:
            k, eq, v = str(item).partition("=")
            if eq:
                env[k] = v
    return env


def _compose_gpus(svc: LMap) -> int | None:
    devices = _get(svc, "deploy", "resources", "reservations", "devices")
    if not isinstance(devices, LSeq):
        return None
    total = 0
    for dev in devices:
        if not isinstance(dev, dict):
            continue
        if isinstance(dev.get("device_ids"), list):
            total += len(dev["device_ids"])
        elif isinstance(dev.get("count"), int):
            total += dev["count"]
        else:
            return None       # count: all -> as many as the host has
    return total or None


# ---- Dockerfile -----------------------------------------------------------------------------------

def _dockerfile(path: str, text: str, result: FileResult | None = None) -> Iterator[Invocation]:
    """The last stage's ENTRYPOINT + CMD, with the base image's entrypoint when it is vLLM's."""
    instructions: list[tuple[str, str, int]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        body = line
        while body.rstrip().endswith("\\") and i + 1 < len(lines):
            # Keep the backslash-newline: the shell tokenizer joins it and still counts the line.
            i += 1
            nxt = lines[i]
            body = body.rstrip() + "\n" + ("" if nxt.lstrip().startswith("#") else nxt)
        m = re.match(r"\s*([A-Za-z]+)\s*(.*)", body, re.DOTALL)
        if m:
            instructions.append((m.group(1).upper(), m.group(2), start + 1))
        i += 1
    image = None
    env: dict[str, str] = {}
    entry: tuple[list[str], list[int], str | None] | None = None
    cmd: tuple[list[str], list[int], str | None] | None = None
    health = False
    for op, arg, at in instructions:
        if op == "FROM":
            image = arg.split()[0] if arg.split() else None
            env, entry, cmd, health = {}, None, None, False
        elif op == "ENV":
            env.update(_docker_env(arg))
        elif op in ("ENTRYPOINT", "CMD"):
            form = _docker_form(arg, at)
            if form[2] is not None and form[2].startswith("[") and result is not None:
                # Docker runs a malformed exec form as a shell command: `/bin/sh -c '["vllm", ...'`.
                result.findings.append(Finding(
                    path, at, "dockerfile-exec-form", "error",
                    f"{op} starts like an exec form (a JSON array) but is not valid JSON, so Docker runs it "
                    "as a shell command", 'write a JSON array of strings in double quotes, e.g. '
                    f'{op} ["vllm", "serve", "MODEL"]'))
            if op == "ENTRYPOINT":
                entry, cmd = form, None      # a new ENTRYPOINT resets the inherited CMD
            else:
                cmd = form
        elif op == "HEALTHCHECK":
            health = "/health" in arg
    words: list[str] = []
    wl: list[int] = []
    script = None
    for part in (entry, cmd):
        if part is None:
            continue
        if part[2] is not None:               # shell form: /bin/sh -c "..."; CMD is ignored after it
            script = part
            break
        words += part[0]
        wl += part[1]
    ident = f"image {image}" if image else "Dockerfile"
    if script is not None:
        inv = _first_in_script(path, ident, script[2] or "", script[1][0], dict(env), image=image)
    else:
        inv = _from_words(path, ident, words, wl, image=image, entrypoint_default=entry is None, variables=env)
    if inv is not None:
        inv.image = image
        inv.env = {**env, **inv.env}
        inv.readiness = "health" if health else "missing"
        for at, ov in comment_overrides(text):
            apply_overrides(inv, ov, at)
        yield inv


def _docker_env(arg: str) -> dict[str, str]:
    words = [w.text for cmd in shell.tokenize(arg.replace("\n", " ")) for w in cmd]
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}         # legacy `ENV KEY value`
    return dict(w.split("=", 1) for w in words if "=" in w)


def _docker_form(arg: str, line: int) -> tuple[list[str], list[int], str | None]:
    """Exec form (JSON array) -> (words, lines, None); shell form -> ([], [line], script)."""
    text = arg.strip()
    if text.startswith("["):
        text = text.replace("\\\n", "\n")        # continuations are whitespace inside the JSON array
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            # Line of each word: count the newlines before it in the instruction text.
            out_lines, pos = [], 0
            for v in value:
                at = text.find(json.dumps(v), pos)
                pos = at if at >= 0 else pos
                out_lines.append(line + text[:pos].count("\n"))
            return value, out_lines, None
    return [], [line], text


# ---- shell scripts --------------------------------------------------------------------------------

def _shell_script(path: str, text: str) -> Iterator[Invocation]:
    overrides = comment_overrides(text)
    for inv in _script_invocations(path, "script", text, 1, {}):
        for line, ov in overrides:
            apply_overrides(inv, ov, line)
        yield inv


# ---- planner.yaml ---------------------------------------------------------------------------------

def _planner_entry(path: str, entry: LMap, line: int) -> Invocation:
    """model, gpu, gpus, vllm, flags (a list, a string, or a mapping of flag: value), requirements."""
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise PlannerError(f"{path}: line {entry.line_of('model')}: `model` must be a string", code="malformed_input")
    words, lines = [str(model)], [entry.line_of("model")]
    flags = entry.get("flags")
    if isinstance(flags, LSeq):
        words += [str(f) for f in flags]
        lines += flags.item_lines
    elif isinstance(flags, str):
        for cmd in shell.tokenize(flags, flags.line if isinstance(flags, LStr) else line):
            words += [w.text for w in cmd]
            lines += [w.line for w in cmd]
    elif isinstance(flags, LMap):
        for k, v in flags.items():
            flag = "--" + str(k).lstrip("-")
            if v is True:
                words.append(flag)
                lines.append(flags.line_of(k))
            elif v is False:
                words.append("--no-" + flag[2:])
                lines.append(flags.line_of(k))
            else:
                words += [flag, str(v)]
                lines += [flags.line_of(k)] * 2
    elif flags is not None:
        raise PlannerError(f"{path}: line {entry.line_of('flags')}: `flags` must be a list, a string or a mapping",
                           code="malformed_input")
    name = entry.get("name")
    inv = Invocation(path, line, f"deployment {name}" if name else "planner.yaml", words, lines)
    inv.readiness = "n/a"
    overrides = {k: str(entry[k]) for k in ("gpu", "gpus", "vllm") if entry.get(k) is not None}
    apply_overrides(inv, overrides)
    if "gpu" in entry:
        inv.gpu_label_line = entry.line_of("gpu")
    inv.requirements = _requirements(path, entry.get("requirements"))
    return inv


def _requirements(path: str, value: Any) -> Requirements | None:
    if value is None:
        return None
    if not isinstance(value, LMap):
        raise PlannerError(f"{path}: `requirements` must be a mapping", code="malformed_input")
    known = {"min_context", "min_concurrency", "min_kv_headroom"}
    for key in value:
        if key not in known:
            raise PlannerError(f"{path}: line {value.line_of(key)}: unknown requirement {key!r}",
                               code="malformed_input", hint="use " + ", ".join(sorted(known)))

    ctx = value.get("min_context")
    conc = value.get("min_concurrency")
    head = value.get("min_kv_headroom")
    try:
        min_context = parse_human_int(str(ctx), flag="min_context") if ctx is not None else None
        min_conc = float(conc) if conc is not None else None
        if isinstance(head, str) and head.strip().endswith("%"):
            min_head: float | None = float(head.strip()[:-1]) / 100
        else:
            min_head = float(head) if head is not None else None
    except (ValueError, TypeError):
        raise PlannerError(f"{path}: line {value.line}: requirements must be numbers", code="malformed_input") \
            from None
    for label, v in (("min_context", min_context), ("min_concurrency", min_conc)):
        if v is not None and v <= 0:
            raise PlannerError(f"{path}: {label} must be positive", code="malformed_input")
    if min_head is not None and min_head < 0:
        raise PlannerError(f"{path}: min_kv_headroom must be >= 0", code="malformed_input")
    return Requirements(min_context, min_conc, min_head, lines={k: value.line_of(k) for k in value})
