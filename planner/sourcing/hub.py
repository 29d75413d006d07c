"""Model configs and exact checkpoint tensors from the Hugging Face Hub, through huggingface_hub.

Everything goes through the real client, so the variables users already set behave as they expect:
HF_TOKEN (or `hf auth login`), HF_ENDPOINT (a mirror), HF_HOME / HF_HUB_CACHE (the cache),
HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT.

What is fetched for `org/name`:
* `model_info` (one request: the commit sha and the file list, so that absent side-cars cost nothing);
* config.json and the quantization side-cars that exist, with `hf_hub_download` (into the HF cache);
* the safetensors headers (`get_safetensors_metadata`, a Range request per shard), which give every
  tensor's dtype and shape. These are not files the HF cache keeps, so the planner stores them as a
  small JSON per repo and commit under `$HF_HOME/vllm-planner/hub/` (a *manifest*, which also records
  which side-cars exist and when each branch name was last checked).

Files are downloaded by commit sha, and the branch's ref is recorded in the HF cache as the client
does. A second run within PLANNER_HUB_CACHE_TTL seconds (default one day) makes no request at all: the
branch's commit comes from the HF cache's refs, the files from its snapshot, the tensors from the
manifest. After that, one request (model_info) tells whether the branch moved; only a new commit is
downloaded. A revision pinned to a commit sha is immutable and never re-checked. Offline
(`offline=True` or HF_HUB_OFFLINE=1), the cache is used whatever its age.

When the Hub cannot be reached (connection refused, timeout, 5xx, truncated answer), the planner falls
back to the cache, then to the bundled catalog's snapshot of the repo, each with a warning; otherwise
it raises a one-line PlannerError. The whole fetch runs under one deadline (PLANNER_HUB_TIMEOUT,
default 60 s) because the client's own retries on 5xx can otherwise take minutes.

huggingface_hub's HTTP stack (and rich, and transformers) are imported inside the functions: importing
this module costs nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from planner.errors import PlannerError, did_you_mean
from planner.sourcing.model_files import (
    QUANT_SIDECARS,
    LoadedModel,
    TensorInfo,
    merge_quant_sidecar,
    read_json_file,
    read_safetensors_header,
)

DEFAULT_CACHE_TTL_S = 24 * 3600      # how long a branch's commit is trusted without asking the Hub
DEFAULT_DEADLINE_S = 60.0            # the whole fetch; single requests use HF_HUB_ETAG_TIMEOUT (10 s)
MANIFEST_VERSION = 1
SAFETENSORS_SINGLE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"

_COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
_T = TypeVar("_T")


class _Unreachable(Exception):
    """The Hub did not give a usable answer (network, timeout, 5xx, truncated): try the fallbacks."""


class _Gated(Exception):
    """The repo is gated and the request carried no (accepted) token."""


@dataclass(frozen=True)
class _Settings:
    endpoint: str
    cache_dir: Path        # HF hub cache (snapshots, refs, blobs)
    manifest_dir: Path     # the planner's side cache of headers and checks
    offline: bool
    etag_timeout: float
    download_timeout: float
    deadline: float
    ttl: float


@dataclass(frozen=True)
class _Snapshot:
    """What one commit of a repo gives the planner."""

    sha: str
    config: dict[str, Any]
    tensors: tuple[TensorInfo, ...] | None
    warnings: tuple[str, ...] = ()
    source: str = "hub-cache"   # "hub" when this run downloaded it


def _env_seconds(name: str, default: float, *, allow_zero: bool) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise PlannerError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise PlannerError(f"{name}={raw!r} must be a {'non-negative' if allow_zero else 'positive'} "
                           "number of seconds")
    return value


def _settings(offline: bool | None) -> _Settings:
    # Read at call time from huggingface_hub.constants, which reads the environment when it is first
    # imported: the same values the rest of the client uses.
    from huggingface_hub import constants  # noqa: PLC0415 - huggingface_hub is heavy (see the module docstring)

    return _Settings(
        endpoint=constants.ENDPOINT,
        cache_dir=Path(constants.HF_HUB_CACHE).expanduser(),
        manifest_dir=Path(constants.HF_HOME).expanduser() / "vllm-planner" / "hub",
        offline=bool(offline) or bool(constants.HF_HUB_OFFLINE),
        etag_timeout=float(constants.HF_HUB_ETAG_TIMEOUT),
        download_timeout=float(constants.HF_HUB_DOWNLOAD_TIMEOUT),
        deadline=_env_seconds("PLANNER_HUB_TIMEOUT", DEFAULT_DEADLINE_S, allow_zero=False),
        ttl=_env_seconds("PLANNER_HUB_CACHE_TTL", DEFAULT_CACHE_TTL_S, allow_zero=True),  # 0: always ask
    )


# --- the planner's manifest (tensors + which side-cars exist + when each branch was checked) -------
def _manifest_path(s: _Settings, repo_id: str, sha: str) -> Path:
    return s.manifest_dir / ("models--" + repo_id.replace("/", "--")) / f"{sha}.json"


def _read_manifest(s: _Settings, repo_id: str, sha: str) -> dict[str, Any] | None:
    path = _manifest_path(s, repo_id, sha)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or damaged: treated as not cached, the Hub is asked again
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION or data.get("sha") != sha:
        return None
    tensors = data.get("tensors")
    if tensors is not None and not (isinstance(tensors, list) and all(_is_tensor_row(t) for t in tensors)):
        return None
    return data


def _is_tensor_row(row: Any) -> bool:
    return (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], str)
            and isinstance(row[2], list) and all(isinstance(d, int) and d >= 0 for d in row[2]))


def _write_manifest(s: _Settings, repo_id: str, sha: str, revision: str, sidecars: list[str],
                    tensors: tuple[TensorInfo, ...] | None, warnings: list[str]) -> None:
    path = _manifest_path(s, repo_id, sha)
    old = _read_manifest(s, repo_id, sha) or {}
    checked = dict(old.get("checked") or {})
    checked[revision] = time.time()
    data = {
        "version": MANIFEST_VERSION, "repo_id": repo_id, "sha": sha, "sidecars": sidecars,
        "tensors": None if tensors is None else [[t.name, t.dtype, list(t.shape)] for t in tensors],
        "warnings": warnings, "checked": checked,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only HF_HOME only costs the next run a request


def _manifest_tensors(manifest: dict[str, Any]) -> tuple[TensorInfo, ...] | None:
    raw = manifest.get("tensors")  # rows checked by _read_manifest
    if raw is None:
        return None
    return tuple(TensorInfo(name=n, dtype=d, shape=tuple(shape)) for n, d, shape in raw)


# --- reading the HF cache -----------------------------------------------------------------------
def _cached_file(repo_id: str, filename: str, revision: str, s: _Settings) -> Path | None:
    from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415 - huggingface_hub is heavy

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(s.cache_dir), revision=revision)
    return Path(found) if isinstance(found, str) else None


def _snapshot_tensors(folder: Path) -> tuple[TensorInfo, ...] | None:
    """Tensors of a checkpoint that is entirely in the HF cache (downloaded by vLLM or the CLI)."""
    index = folder / SAFETENSORS_INDEX
    if index.is_file():
        weight_map = read_json_file(index, what=SAFETENSORS_INDEX).get("weight_map")
        if not isinstance(weight_map, dict):
            return None
        shards = sorted(set(map(str, weight_map.values())))
    elif (folder / SAFETENSORS_SINGLE).is_file():
        shards = [SAFETENSORS_SINGLE]
    else:
        return None
    if not all((folder / f).is_file() for f in shards):
        return None
    return tuple(t for f in shards for t in read_safetensors_header(folder / f))


def _from_cache(repo_id: str, revision: str, s: _Settings, *, fresh_only: bool) -> _Snapshot | None:
    """The snapshot in the HF cache for `revision`, or None. With fresh_only, only a snapshot the
    planner itself checked against the Hub within the TTL (or a pinned commit) counts."""
    cfg_path = _cached_file(repo_id, "config.json", revision, s)
    if cfg_path is None:
        return None
    sha = cfg_path.parent.name  # .../snapshots/<sha>/config.json
    manifest = _read_manifest(s, repo_id, sha)
    if fresh_only:
        if manifest is None:
            return None
        checked = (manifest.get("checked") or {}).get(revision)
        pinned = _COMMIT_SHA.fullmatch(revision) is not None
        if not pinned and not (isinstance(checked, int | float) and time.time() - checked <= s.ttl):
            return None
    config = read_json_file(cfg_path, what="config.json")
    if manifest is not None:
        sidecar_names = [n for n in manifest.get("sidecars", []) if n in QUANT_SIDECARS]
        for name in sidecar_names:
            side = _cached_file(repo_id, name, sha, s)
            if side is None:
                return None  # the cache lost a file the manifest promised: ask the Hub again
            config = merge_quant_sidecar(config, name, read_json_file(side, what=name))
        tensors = _manifest_tensors(manifest)
        # What the network run warned about (an unparsable header) still holds for this commit.
        warnings = tuple(str(w) for w in manifest.get("warnings") or ())
    else:
        # Cached by another tool: what is on disk is what there is.
        for name in QUANT_SIDECARS:
            side = cfg_path.parent / name
            if side.is_file():
                config = merge_quant_sidecar(config, name, read_json_file(side, what=name))
        tensors = _snapshot_tensors(cfg_path.parent)
        warnings = ()
    return _Snapshot(sha=sha, config=config, tensors=tensors, warnings=warnings)


# --- talking to the Hub -------------------------------------------------------------------------
def _is_transport_error(exc: BaseException) -> bool:
    """A connection-level failure, whatever HTTP library this huggingface_hub version uses."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return any(c.__module__.split(".")[0] in ("httpx", "httpx2", "requests", "urllib3", "http")
               for c in type(exc).__mro__)


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a network failure (the client's messages span paragraphs)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError  # noqa: PLC0415 - huggingface_hub is heavy

    root: BaseException = exc
    if isinstance(exc, LocalEntryNotFoundError) and (exc.__cause__ or exc.__context__):
        root = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    if isinstance(root, HfHubHTTPError) and root.response is not None:
        return f"HTTP {root.response.status_code}"
    name = type(root).__name__
    text = str(root).splitlines()[0] if str(root) else ""
    if "timeout" in name.lower() or "timed out" in text.lower():
        return "timed out"
    return f"{name}: {text}" if text else name


_NOT_FOUND_HINT = "check the spelling; a private repo needs a token: HF_TOKEN or --hf-token"


def _with_suggestion(err: PlannerError, repo_id: str, suggest: Callable[[str], str | None] | None) -> PlannerError:
    """A repo the Hub does not have: the caller's did-you-mean (the catalog's) replaces the generic hint."""
    if err.code != "model_not_found" or suggest is None:
        return err
    hint = suggest(repo_id)
    return err if not hint else PlannerError(err.message, code=err.code, hint=hint)


def _translate(exc: BaseException, repo_id: str, revision: str | None) -> BaseException:
    """Map a huggingface_hub exception to what load_from_hub handles (PlannerError or a fallback)."""
    from huggingface_hub.errors import (  # noqa: PLC0415 - huggingface_hub is heavy
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return _Gated(str(exc))
    if isinstance(exc, RepositoryNotFoundError):
        return PlannerError(f"{repo_id}: no such model repo on the Hugging Face Hub", code="model_not_found",
                            hint=_NOT_FOUND_HINT)
    if isinstance(exc, RevisionNotFoundError):
        return PlannerError(f"{repo_id}: revision {revision!r} not found", code="revision_not_found",
                            hint="use a branch, a tag or a full commit sha of the repo")
    if isinstance(exc, HFValidationError):
        return PlannerError(f"{repo_id!r} is not a valid Hugging Face repo id ({str(exc).splitlines()[0]})",
                            code="model_not_found")
    if isinstance(exc, LocalEntryNotFoundError | OfflineModeIsEnabled):
        return _Unreachable(_reason(exc))
    if isinstance(exc, EntryNotFoundError):
        return PlannerError(f"{repo_id}: the repo has no config.json", code="no_config",
                            hint="vLLM needs a Transformers-style repo; is this a GGUF or adapter repo?")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and (status >= 500 or status in (408, 429)):
            return _Unreachable(f"HTTP {status}")
        return PlannerError(f"{repo_id}: the Hub refused the request (HTTP {status})", code="hub_error",
                            hint="check the token (HF_TOKEN or --hf-token) and the repo id")
    if _is_transport_error(exc) or isinstance(exc, OSError):
        return _Unreachable(_reason(exc))
    return exc


def _record_ref(s: _Settings, repo_id: str, revision: str, sha: str) -> None:
    """Point refs/<revision> of the HF cache at `sha`, as hf_hub_download does for a branch or tag.

    Files are downloaded by commit sha (below), which the client does not record as a ref; this
    file is what lets later offline runs (ours, vLLM's, transformers') find the commit of `main`.
    Layout: https://huggingface.co/docs/huggingface_hub/guides/manage-cache
    """
    if _COMMIT_SHA.fullmatch(revision):
        return
    ref = s.cache_dir / ("models--" + repo_id.replace("/", "--")) / "refs" / revision
    try:
        if ref.is_file() and ref.read_text() == sha:
            return
        ref.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref.with_name(f".{ref.name}.tmp{os.getpid()}")
        tmp.write_text(sha)
        os.replace(tmp, ref)
    except OSError:
        pass  # a read-only cache: the next run asks the Hub again


def _fetch(repo_id: str, revision: str, token: str | None, s: _Settings) -> _Snapshot:
    """One network round: model_info, then (unless this commit is cached already) config + side-cars
    and safetensors headers. Records the ref and the manifest."""
    from huggingface_hub import HfApi, hf_hub_download  # noqa: PLC0415 - huggingface_hub is heavy

    api = HfApi(endpoint=s.endpoint, token=token)

    def download(name: str, rev: str) -> Path:
        return Path(hf_hub_download(repo_id, name, revision=rev, token=token, etag_timeout=s.etag_timeout,
                                    cache_dir=str(s.cache_dir), endpoint=s.endpoint))

    try:
        # model_info first: it fails fast (no retries) when the Hub is down, it resolves the branch to
        # a commit, and its file list tells which side-cars and checkpoint layout exist.
        info = api.model_info(repo_id, revision=revision, timeout=s.etag_timeout)
        files = {sib.rfilename for sib in info.siblings or []}
        if info.siblings is not None and "config.json" not in files:
            raise PlannerError(f"{repo_id}: the repo has no config.json", code="no_config",
                               hint="vLLM needs a Transformers-style repo; is this a GGUF or adapter repo?")
        # Everything below is read at that commit. By sha, the client answers from the cache without a
        # request when it can, and otherwise never substitutes a cached file of another commit (which
        # it silently does by branch name when the Hub refuses, e.g. a gated repo without a token).
        sha = info.sha or download("config.json", revision).parent.name  # (a mirror without sha)
        known = _from_cache(repo_id, sha, s, fresh_only=True)
        if known is not None:  # the branch still points at a commit we have: nothing to download
            _record_ref(s, repo_id, revision, sha)
            manifest = _read_manifest(s, repo_id, sha) or {}
            _write_manifest(s, repo_id, sha, revision, list(manifest.get("sidecars") or []), known.tensors,
                            list(known.warnings))
            return known
        config = read_json_file(download("config.json", sha), what="config.json")
        sidecars = [n for n in QUANT_SIDECARS if n in files]
        for name in sidecars:
            config = merge_quant_sidecar(config, name, read_json_file(download(name, sha), what=name))
    except PlannerError:
        raise
    except Exception as exc:
        raise _translate(exc, repo_id, revision) from exc

    tensors: tuple[TensorInfo, ...] | None = None
    warnings: list[str] = []
    complete = True
    if SAFETENSORS_SINGLE in files or SAFETENSORS_INDEX in files:
        try:
            meta = api.get_safetensors_metadata(repo_id, revision=sha, timeout=s.download_timeout)
            tensors = tuple(
                TensorInfo(name=name, dtype=str(t.dtype), shape=tuple(int(d) for d in t.shape))
                for fname in sorted(meta.files_metadata)
                for name, t in meta.files_metadata[fname].tensors.items()
            )
        except Exception as exc:
            # Headers are a refinement: the config alone still gives an estimate. A network failure
            # leaves the manifest unwritten so that the next run tries again; a broken checkpoint
            # (unparsable header, a shard the index names but the repo lacks) is recorded as such.
            from huggingface_hub.errors import EntryNotFoundError  # noqa: PLC0415 - huggingface_hub is heavy

            err = _translate(exc, repo_id, sha)
            complete = not isinstance(err, _Unreachable)
            reason = (str(err) if not complete else
                      f"{SAFETENSORS_INDEX} names a shard the repo does not have"
                      if isinstance(exc, EntryNotFoundError) else _first_line(exc))
            warnings.append(f"{repo_id}: could not read the safetensors headers ({reason}); "
                            "weights are computed from config.json")
    _record_ref(s, repo_id, revision, sha)
    if complete:
        _write_manifest(s, repo_id, sha, revision, sidecars, tensors, warnings)
    return _Snapshot(sha=sha, config=config, tensors=tensors, warnings=tuple(warnings), source="hub")


_quiet_lock = threading.Lock()
_quiet_state: dict[str, Any] = {"depth": 0, "level": logging.NOTSET, "bars_were_on": False}


@contextmanager
def _quiet_client() -> Iterator[None]:
    """Silence the client's own retry warnings and tqdm bars; the planner reports in one line.

    Counted, not nested: a worker abandoned at its deadline may end after a later fetch started, and
    only the last one out may restore the logger and the bars.
    """
    from huggingface_hub.utils import (  # noqa: PLC0415 - huggingface_hub is heavy
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    log = logging.getLogger("huggingface_hub")
    with _quiet_lock:
        if _quiet_state["depth"] == 0:
            _quiet_state["level"] = log.level
            _quiet_state["bars_were_on"] = not are_progress_bars_disabled()
            log.setLevel(logging.ERROR)
            if _quiet_state["bars_were_on"]:
                disable_progress_bars()
        _quiet_state["depth"] += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_state["depth"] -= 1
            if _quiet_state["depth"] == 0:
                log.setLevel(_quiet_state["level"])
                if _quiet_state["bars_were_on"]:
                    enable_progress_bars()


def _with_deadline(fn: Callable[[], _T], seconds: float, *, progress: bool, label: str) -> _T:
    """Run fn in a daemon thread and give up after `seconds`. A request that trickles bytes defeats
    per-read timeouts, and the client's backoff on 5xx sleeps ~23 s per file; only an overall deadline
    bounds both. An abandoned thread dies with the process."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            # Quiet for as long as the worker runs, even after the caller gave up on it.
            with _quiet_client():
                box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name="planner-hub-fetch", daemon=True)
    worker.start()
    if progress:
        from rich.console import Console  # noqa: PLC0415 - rich is heavy: only for the spinner on a terminal

        with Console(stderr=True).status(label, spinner="dots"):
            worker.join(seconds)
    else:
        worker.join(seconds)
    if worker.is_alive():
        raise _Unreachable(f"no complete answer within {seconds:g} s (PLANNER_HUB_TIMEOUT)")
    if "error" in box:
        raise box["error"]
    return box["value"]


# --- the public entry points ----------------------------------------------------------------------
def _loaded(ref: str, repo_id: str, snap: _Snapshot, source: str, catalog_alias: str | None,
            warnings: list[str]) -> LoadedModel:
    return LoadedModel(
        ref=ref, config=snap.config, source=source, name=repo_id, repo_id=repo_id, revision=snap.sha,
        tensors=snap.tensors, weights_source="safetensors" if snap.tensors else "config",
        catalog_alias=catalog_alias, warnings=tuple(warnings) + snap.warnings,
    )


def _catalog_fallback(ref: str, revision: str | None, fallback: LoadedModel | None, why: str) -> LoadedModel | None:
    if fallback is None:
        return None
    note = f"{why}; using the bundled catalog snapshot of {fallback.repo_id or ref}"
    if revision:
        note += f" (it may differ from revision {revision})"
    return replace(fallback, warnings=(*fallback.warnings, note))


def load_from_hub(
    ref: str,
    *,
    revision: str | None = None,
    offline: bool | None = None,
    token: str | None = None,
    progress: bool = False,
    fallback: LoadedModel | None = None,
    catalog_alias: str | None = None,
    suggest: Callable[[str], str | None] | None = None,
) -> LoadedModel:
    """config.json (+ quant side-cars) and, when the repo has safetensors, its exact tensors.

    `ref` is an `org/name` repo id; `revision` a branch, tag or commit sha (default main); `offline`
    forbids network access like HF_HUB_OFFLINE=1; `token` overrides HF_TOKEN / the stored login;
    `progress` shows a spinner on stderr while fetching. The fallbacks come from the caller (this module
    knows no catalog): `fallback` is the model to answer with when neither the Hub nor the cache can
    (planner.sourcing.loader passes the catalog's snapshot of the repo), `catalog_alias` is recorded on what the
    Hub returns, and `suggest(repo_id)` is the did-you-mean for a repo that does not exist. Raises
    PlannerError.
    """
    from huggingface_hub.utils import validate_repo_id  # noqa: PLC0415 - huggingface_hub is heavy

    repo_id = ref.strip()
    rev = revision or "main"
    s = _settings(offline)
    try:
        validate_repo_id(repo_id)
    except ValueError as exc:  # HFValidationError: caught before any cache lookup or request
        raise _translate(exc, repo_id, revision) from None
    snap = _from_cache(repo_id, rev, s, fresh_only=not s.offline)
    if snap is not None:
        return _loaded(ref, repo_id, snap, "hub-cache", catalog_alias, [])
    if s.offline:
        why = f"{repo_id}@{rev} is not in the Hugging Face cache ({s.cache_dir}) and offline mode is on"
        fallback = _catalog_fallback(ref, revision, fallback, why)
        if fallback is not None:
            return fallback
        raise PlannerError(why, code="offline_not_cached",
                           hint="run once online to cache it, or unset HF_HUB_OFFLINE / --offline")
    try:
        snap = _with_deadline(lambda: _fetch(repo_id, rev, token, s), s.deadline, progress=progress,
                              label=f"Fetching {repo_id} from {s.endpoint} ...")
        return _loaded(ref, repo_id, snap, snap.source, catalog_alias, [])
    except PlannerError as err:
        better = _with_suggestion(err, repo_id, suggest)
        if better is err:
            raise
        raise better from None
    except _Unreachable as exc:
        why = f"cannot reach the Hugging Face Hub at {s.endpoint} ({exc})"
        stale = _from_cache(repo_id, rev, s, fresh_only=False)
        if stale is not None:
            return _loaded(ref, repo_id, stale, "hub-cache", catalog_alias,
                           [f"{why}; using the cached copy of {repo_id} (commit {stale.sha[:12]})"])
        fallback = _catalog_fallback(ref, revision, fallback, why)
        if fallback is not None:
            return fallback
        raise PlannerError(f"{repo_id}: {why}, and it is not in the cache", code="hub_unreachable",
                           hint="check the network and HF_ENDPOINT, or use a catalog alias "
                                "(`planner models`)") from None
    except _Gated:
        how = "pass a token with HF_TOKEN=hf_... or --hf-token, or run `hf auth login`"
        why = f"{repo_id} is a gated repo and no accepted token was sent"
        stale = _from_cache(repo_id, rev, s, fresh_only=False)
        if stale is not None:
            return _loaded(ref, repo_id, stale, "hub-cache", catalog_alias,
                           [f"{why}; using the cached copy (to refresh it, {how})"])
        fallback = _catalog_fallback(ref, revision, fallback, f"{why} ({how})")
        if fallback is not None:
            return fallback
        raise PlannerError(why, code="gated_repo",
                           hint=f"accept its license on the Hub, then {how}") from None


# Fields a decoder's KV cache and weights cannot be sized without. transformers' configs expose them
# under these names through `attribute_map` even when the file uses others (GPT-2's n_embd, ...).
_SIZING_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
_DERIVED_FIELDS = ("num_key_value_heads", "head_dim", "intermediate_size", "max_position_embeddings")


def config_via_autoconfig(config: dict[str, Any]) -> dict[str, Any]:
    """Fill a config's missing fields with the defaults of its transformers config class.

    For a model_type the planner does not know natively. Imports transformers only when called, and
    never runs repo code (no trust_remote_code): the class must ship with transformers. The file's own
    values win; class defaults fill the gaps, and the standard names (hidden_size, ...) are added when
    the file uses aliases. Raises PlannerError naming what is missing if it still cannot be sized.
    """
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise PlannerError("config.json has no model_type, so its architecture defaults cannot be looked up",
                           code="unsupported_model")
    # transformers warns at import that PyTorch is missing; a planner user does not need to hear that.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import transformers  # noqa: PLC0415 - transformers is heavy: only for a config that lacks sizes
        from transformers import AutoConfig  # noqa: PLC0415 - transformers is heavy
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING  # noqa: PLC0415 - transformers is heavy
    except ImportError:
        raise PlannerError(f"model_type {model_type!r} needs transformers to fill its defaults, and it "
                           "is not installed", code="unsupported_model",
                           hint="pip install transformers") from None
    if model_type not in CONFIG_MAPPING:
        raise PlannerError(
            f"model_type {model_type!r} is not known to transformers {transformers.__version__}, so the "
            "planner cannot size it", code="unsupported_model",
            hint=did_you_mean(model_type, list(CONFIG_MAPPING.keys())) or
            "it may need trust_remote_code, which the planner never runs")
    kwargs = {k: v for k, v in config.items() if k not in ("model_type", "auto_map")}
    try:
        cfg = AutoConfig.for_model(model_type, **kwargs)
        text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        defaults = cfg.to_dict()       # fails too on some bad values (quantization_config: [])
    except Exception as exc:  # the class's own validation of the values in the file
        raise PlannerError(f"config.json is not a valid {model_type!r} config for transformers: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                           code="malformed_config") from None
    out: dict[str, Any] = {**defaults, **config}
    for name in (*_SIZING_FIELDS, *_DERIVED_FIELDS):
        value = getattr(text, name, None)
        if name not in out and isinstance(value, int) and not isinstance(value, bool):
            out[name] = value
    missing = [n for n in _SIZING_FIELDS if not isinstance(getattr(text, n, None), int)]
    if missing:
        raise PlannerError(f"model_type {model_type!r}: cannot size this architecture, its config has no "
                           + ", ".join(missing), code="unsupported_model")
    return out
