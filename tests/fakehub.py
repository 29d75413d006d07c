"""A fake Hugging Face Hub on loopback, for testing against the real huggingface_hub client.

Point the client at it with HF_ENDPOINT=<hub.url>. It speaks just enough of the Hub's HTTP protocol
for config downloads, model_info, the tree listing and safetensors header reads, following the
recipe in ../shared/reference/feasibility.md section 5:

* `/{org}/{name}/resolve/{rev}/{path}` (HEAD and GET, Range supported) answers with `X-Repo-Commit`
  (40-hex sha) and `ETag`; without either header the client refuses the response;
* `/api/models/{org}/{name}` and `/api/models/{org}/{name}/revision/{rev}` give the model_info JSON
  (`id`, `sha`, `siblings`, `gated`, ...); `/api/models/{org}/{name}/tree/{rev}` the file list;
* errors are typed the way the client expects, with the `X-Error-Code` header: RepoNotFound,
  RevisionNotFound, EntryNotFound, GatedRepo.

Repos live in a temporary folder, one folder per commit (`ROOT/{org}/{name}/{sha}/...`). Each
`add_repo` call on the same repo id makes a new commit that `main` then points to, so old shas stay
addressable (revision pins). Every request is recorded in `hub.requests` (so a test can prove that
a second run made none), and `hub.faults` injects failures: an HTTP status (5xx), a truncated body,
a slow answer, or a dropped connection. Gated repos answer 401 GatedRepo unless the request carries
`Authorization: Bearer <token>` with a token in `hub.tokens`.

Large checkpoints are served from sparse files: `safetensors_header_file` writes the real header of
a checkpoint and extends the file to its full size without writing the data, and the client only
ever asks for the header with a Range request.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

# Bytes of a safetensors dtype, for the data offsets of generated headers
# (https://github.com/huggingface/safetensors, `Dtype::size`).
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}

FileContent = bytes | str | dict[str, Any] | Path | Callable[[Path], object]

_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?/?$")
_TREE = re.compile(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    range: str | None
    authorized: bool


@dataclass
class Fault:
    """A failure to inject into requests whose path matches `path` (a regex, searched).

    kind: "status" answers `status` (500, 503, ...) with no X-Error-Code; "truncate" promises the
    full Content-Length but sends half the body and closes; "slow" waits `delay` seconds before
    answering normally; "drop" closes the connection without an answer. `times` limits how many
    requests are hit (None = all).
    """

    kind: str
    path: str = ".*"
    status: int = 503
    delay: float = 5.0
    times: int | None = None
    hits: int = 0


@dataclass
class _Commit:
    sha: str
    folder: Path


@dataclass
class _Repo:
    repo_id: str
    commits: list[_Commit] = field(default_factory=list)
    gated: bool = False

    @property
    def head(self) -> _Commit:
        return self.commits[-1]


def _files_of(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _etag(path: Path) -> str:
    # The Hub's ETag of an LFS file is its sha256. Hashing a multi-GB sparse checkpoint would be slow,
    # so large files hash their first MiB and their size; the client only uses the ETag as a blob name.
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as fh:
        h.update(fh.read(2**20 if size > 16 * 2**20 else size))
    h.update(str(size).encode())
    return h.hexdigest()


def _git_oid(path: Path) -> str:
    # The tree listing's oid is the git blob id; for a large (sparse) file, a stand-in as for the ETag.
    size = path.stat().st_size
    if size > 16 * 2**20:
        return _etag(path)[:40]
    return hashlib.sha1(b"blob %d\0" % size + path.read_bytes()).hexdigest()


class FakeHub:
    """A threaded loopback HTTP server that impersonates the Hub. Use as a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.repos: dict[str, _Repo] = {}
        self.tokens: set[str] = set()
        self.faults: list[Fault] = []
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- repos -----------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: Mapping[str, FileContent], *, gated: bool = False) -> str:
        """Commit `files` as the new head of `repo_id` and return the commit sha. A file is given as
        bytes, text, a JSON object, a file to copy, or a callable that writes the file at the path it
        is passed (see `write_sparse_safetensors`)."""
        repo = self.repos.setdefault(repo_id, _Repo(repo_id))
        repo.gated = repo.gated or gated
        sha = hashlib.sha1(f"{repo_id}#{len(repo.commits)}".encode()).hexdigest()
        folder = self.root / repo_id / sha
        folder.mkdir(parents=True)
        for rel, content in files.items():
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if callable(content):
                content(dest)
            elif isinstance(content, Path):
                dest.write_bytes(content.read_bytes())
            elif isinstance(content, dict):
                dest.write_text(json.dumps(content, indent=2))
            elif isinstance(content, str):
                dest.write_text(content)
            else:
                dest.write_bytes(content)
        repo.commits.append(_Commit(sha, folder))
        return sha

    # --- observation ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, req: Request) -> None:
        with self._lock:
            self._requests.append(req)

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if re.search(f.path, path) and (f.times is None or f.hits < f.times):
                    f.hits += 1
                    return f
        return None

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "hub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            owner = hub

        self._server = _Server(("127.0.0.1", 0), Handler)
        # Handler threads may be sleeping in a "slow" fault; do not let them block shutdown.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fakehub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests) closes its socket mid-answer: expected, not news.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    # --- plumbing ------------------------------------------------------------------------------
    def _authorized_token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
              ctype: str = "application/json", length: int | None = None) -> None:
        hub = self.owner
        fault = hub._fault_for(unquote(urlparse(self.path).path))
        recorded = 0 if fault is not None and fault.kind == "drop" else (
            fault.status if fault is not None and fault.kind == "status" else status)
        hub._record(Request(self.command, self.path, recorded, self.headers.get("Range"),
                            self._authorized_token() in hub.tokens))
        if fault is not None and fault.kind == "slow":
            # Sleep in slices so that stopping the hub is not held up by a sleeping handler.
            end = time.monotonic() + fault.delay
            while time.monotonic() < end and not hub._stopping.is_set():
                time.sleep(0.05)
        elif fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        elif fault is not None and fault.kind == "status":
            status, body, headers = fault.status, b'{"error": "injected server error"}', {}
            length = None
        all_headers = {"Content-Type": ctype,
                       "Content-Length": str(len(body) if length is None else length)}
        all_headers.update(headers or {})
        self.send_response(status)
        for k, v in all_headers.items():
            self.send_header(k, v)
        if fault is not None and fault.kind == "truncate":
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
            self.close_connection = True
            return
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message})

    def _commit(self, repo: _Repo, rev: str | None) -> _Commit | None:
        if rev in (None, "main"):
            return repo.head
        return next((c for c in repo.commits if c.sha == rev), None)

    def _dispatch(self) -> None:
        path = unquote(urlparse(self.path).path)
        m_info, m_tree, m_file = _INFO.match(path), _TREE.match(path), _RESOLVE.match(path)
        match = m_tree or m_info or m_file
        if match is None:
            return self._error(404, "NotFound", "no route")
        repo = self.owner.repos.get(match.group(1))
        if repo is None:
            # The Hub answers 401 for unknown repos, so that private repos do not leak their existence.
            return self._error(401, "RepoNotFound", "Repository not found")
        commit = self._commit(repo, match.group(2))
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {match.group(2)}")
        if m_info is not None and m_tree is None:
            return self._send(200, json.dumps(self._info(repo, commit)).encode())
        if m_tree is not None:
            folder = commit.folder
            return self._send(200, json.dumps([
                {"type": "file", "path": f, "size": (folder / f).stat().st_size, "oid": _git_oid(folder / f)}
                for f in _files_of(folder)]).encode())
        if repo.gated and self._authorized_token() not in self.owner.tokens:
            return self._error(401, "GatedRepo",
                               f"Access to model {repo.repo_id} is restricted. You must have access to it "
                               "and be authenticated to access it. Please log in.")
        return self._file(commit, match.group(3))

    def _info(self, repo: _Repo, commit: _Commit) -> dict[str, Any]:
        folder = commit.folder
        cfg_path = folder / "config.json"
        try:
            cfg = json.loads(cfg_path.read_text())
        except (OSError, ValueError):  # the Hub lists a broken or absent config.json all the same
            cfg = {}
        cfg = cfg if isinstance(cfg, dict) else {}
        return {
            "id": repo.repo_id, "modelId": repo.repo_id, "sha": commit.sha, "private": False,
            "gated": "manual" if repo.gated else False, "disabled": False,
            "lastModified": "2026-01-01T00:00:00.000Z", "library_name": "transformers",
            "pipeline_tag": "text-generation", "tags": ["transformers", "safetensors"],
            "config": {"architectures": cfg.get("architectures"), "model_type": cfg.get("model_type")},
            "siblings": [{"rfilename": f} for f in _files_of(folder)],
        }

    def _file(self, commit: _Commit, rel: str) -> None:
        p = commit.folder / rel
        if not p.is_file():
            return self._error(404, "EntryNotFound", f"{rel} does not exist on this revision")
        size = p.stat().st_size
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{_etag(p)}"', "Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        m = _RANGE.match(rng or "")
        if rng and m and self.command == "GET":
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            with p.open("rb") as fh:
                fh.seek(start)
                body = fh.read(max(0, end - start + 1))
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self._send(206, body, headers, "application/octet-stream")
        if self.command == "HEAD":
            # HEAD announces the real size without reading a (possibly multi-GB, sparse) file.
            return self._send(200, b"", headers, "application/octet-stream", length=size)
        return self._send(200, p.read_bytes(), headers, "application/octet-stream")


# --- safetensors helpers -------------------------------------------------------------------------
def safetensors_header(tensors: Iterable[tuple[str, str, tuple[int, ...]]],
                       metadata: Mapping[str, str] | None = None) -> tuple[bytes, int]:
    """The serialized header (length prefix + JSON, padded to 8 bytes like the reference writer) of a
    safetensors file holding `tensors` (name, dtype, shape), and the size of its data section."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape in tensors:
        n = DTYPE_BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset


def write_sparse_safetensors(path: Path, tensors: Iterable[tuple[str, str, tuple[int, ...]]],
                             metadata: Mapping[str, str] | None = None) -> int:
    """Write a safetensors file with a real header and an all-zero data section that takes no disk
    space (a sparse file). Returns the file size."""
    head, data_len = safetensors_header(tensors, metadata)
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + data_len)
    return len(head) + data_len


@contextmanager
def running_hub(root: Path) -> Iterator[FakeHub]:
    hub = FakeHub(root)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


