"""YAML documents with line numbers: safe loading only, bounded work, anchors and merge keys.

`load_stream(text, name=...)` composes each document with PyYAML's safe composer (the C one when
available) and converts the node graph itself, so that every mapping and sequence remembers the line of
each key and item (`LMap.line_of`, `LSeq.line_of`). Aliases reuse the converted object of their anchor,
and merge keys (`<<: *base`) are applied as YAML 1.1 says (explicit keys win).

Every way the loader can fail is one `PlannerError` (code malformed_input or input_too_large) whose
message is the reason: a syntax error with its line, a bad scalar (`!!int` of nothing), a crash inside
PyYAML itself, or a limit. The limits bound the work before it is done: bytes, parse events (nodes),
documents, and the size the stream would have with every alias expanded (an alias bomb is refused,
not walked: the extractors turn lists into argv and text, which would expand it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.errors import PlannerError

MAX_BYTES = 8 * 2**20          # a manifest bigger than this is not a deployment file
MAX_NODES = 500_000            # nodes per stream as written (aliases count once)
MAX_EXPANDED = 1_000_000       # nodes per stream with every alias expanded
MAX_DOCUMENTS = 10_000         # documents per stream (Helm output of a large chart is a few hundred)


class LMap(dict):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LSeq(list):
    """A sequence that knows its own line and the line of each item (1-based)."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class LStr(str):
    """A string scalar with its position: `line` of the first content character, and `style`
    ('|' or '>' for block scalars, whose content starts on the line after the indicator)."""

    line: int
    style: str | None

    def __new__(cls, value: str, line: int, style: str | None) -> LStr:
        obj = super().__new__(cls, value)
        obj.line = line
        obj.style = style
        return obj


def _loader() -> tuple[Any, Any]:
    import yaml  # noqa: PLC0415 - yaml only when a YAML file is checked

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    value: Any
    line: int          # first line of the document's content (1-based)
    end_line: int      # last line of the document's content
    text: str          # the document's source text (to tell whether it mentions vLLM)


def load_documents(text: str, *, name: str) -> list[tuple[Any, int]]:
    """[(document, first line)] for every document of a YAML stream. Raises PlannerError if malformed."""
    return [(d.value, d.line) for d in load_stream(text, name=name)]


def load_stream(text: str, *, name: str) -> list[Document]:
    """Every non-empty document of a YAML stream. Raises PlannerError, never anything else."""
    yaml, loader_cls = _loader()
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise PlannerError(f"{name}: larger than {MAX_BYTES >> 20} MiB", code="input_too_large")
    try:
        _count_events(yaml, text, loader_cls, name)
        nodes = list(yaml.compose_all(text, Loader=loader_cls))
        conv = _Converter(yaml, name)
        out = []
        for n in nodes:
            if n is None:
                continue
            value = conv.convert(n)
            start, end = n.start_mark, n.end_mark
            out.append(Document(value, start.line + 1, max(start.line, end.line - (end.column == 0)) + 1,
                                text[start.index:end.index]))
        return out
    except PlannerError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["malformed"])[0]
        raise PlannerError(f"{name}: not valid YAML: {problem}{where}", code="malformed_input") from None
    except RecursionError:
        raise PlannerError(f"{name}: YAML nested too deeply", code="input_too_large") from None
    except MemoryError:
        raise PlannerError(f"{name}: YAML too large to load", code="input_too_large") from None
    except Exception as exc:
        # PyYAML raises plain Python errors for some malformed input (an empty `!!int` is an
        # IndexError inside its int constructor): whatever it raises, the file is not readable YAML.
        detail = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise PlannerError(f"{name}: not valid YAML: {type(exc).__name__}{': ' + detail if detail else ''}",
                           code="malformed_input") from None


def _count_events(yaml: Any, text: str, loader_cls: Any, name: str) -> None:
    """Refuse more than MAX_NODES nodes or MAX_DOCUMENTS documents while parsing, before composing:
    composing builds every node first (about 1 GiB and 10 s for an 8 MiB stream of small documents),
    parsing streams events."""
    node_events = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)
    doc_event = yaml.DocumentStartEvent
    nodes = docs = 0
    for event in yaml.parse(text, Loader=loader_cls):
        if isinstance(event, node_events):
            nodes += 1
            if nodes > MAX_NODES:
                raise PlannerError(f"{name}: more than {MAX_NODES:,} YAML nodes (the limit per file)",
                                   code="input_too_large")
        elif isinstance(event, doc_event):
            docs += 1
            if docs > MAX_DOCUMENTS:
                raise PlannerError(f"{name}: more than {MAX_DOCUMENTS:,} YAML documents (the limit per file)",
                                   code="input_too_large")


class _Converter:
    """Nodes -> LMap/LSeq/LStr. Each node is converted once (aliases share the object); `sizes`
    holds what each container would weigh with its aliases expanded, so a bomb is refused here."""

    def __init__(self, yaml: Any, name: str) -> None:
        self.yaml = yaml
        self.name = name
        self.memo: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}          # id(converted container) -> expanded node count
        self.count = 0
        self.expanded = 0                         # whole stream, aliases expanded
        # A plain SafeConstructor resolves scalars exactly as yaml.safe_load would (ints, bools, nulls).
        self.scalars = yaml.constructor.SafeConstructor()

    def convert(self, node: Any) -> Any:
        value = self._convert(node)
        self.expanded += self.size(value)
        self._check(self.expanded)
        return value

    def size(self, value: Any) -> int:
        # A container still being converted (a recursive anchor) counts as one node.
        return self.sizes.get(id(value), 1) if isinstance(value, (LMap, LSeq)) else 1

    def _check(self, size: int) -> None:
        if size > MAX_EXPANDED:
            raise PlannerError(f"{self.name}: YAML aliases expand to more than {MAX_EXPANDED:,} nodes "
                               "(the limit per file; an alias bomb?)", code="input_too_large")

    def _convert(self, node: Any) -> Any:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        self.count += 1
        if self.count > MAX_NODES:
            raise PlannerError(f"{self.name}: more than {MAX_NODES:,} YAML nodes (the limit per file)",
                               code="input_too_large")
        y = self.yaml
        line = node.start_mark.line + 1
        if node.tag.startswith("tag:yaml.org,2002:python/"):
            # Object-building tags have no place in a deployment file; nothing is ever constructed here.
            raise PlannerError(f"{self.name}: line {line}: unsupported YAML tag {node.tag}", code="malformed_input")
        if isinstance(node, y.ScalarNode):
            try:
                # Application tags (CloudFormation's !Ref, ...) are read as their plain text.
                value = node.value if node.tag.startswith("!") else self.scalars.construct_object(node)
            except Exception as exc:
                detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
                raise PlannerError(f"{self.name}: line {line}: bad {node.tag.rsplit(':', 1)[-1]} scalar "
                                   f"{node.value[:40]!r}: {detail}", code="malformed_input") from None
            if isinstance(value, str):
                # Block scalars start on the line after `|`/`>`; quoted and plain ones on their own line.
                style = node.style if node.style in ("|", ">") else None
                value = LStr(value, line + 1 if style else line, style)
            self.memo[key] = value
            return value
        if isinstance(node, y.SequenceNode):
            seq = LSeq()
            seq.line = line
            seq.item_lines = []
            self.memo[key] = seq
            size = 1
            for item in node.value:
                converted = self._convert(item)
                seq.append(converted)
                seq.item_lines.append(item.start_mark.line + 1)
                size += self.size(converted)
                self._check(size)
            self.sizes[id(seq)] = size
            return seq
        mapping = LMap()
        mapping.line = line
        mapping.key_lines = {}
        self.memo[key] = mapping
        size = 1
        merges: list[Any] = []
        for k_node, v_node in node.value:
            if k_node.tag == "tag:yaml.org,2002:merge":
                merges.append(v_node)
                continue
            k = self._convert(k_node)
            try:
                hash(k)
            except TypeError:
                raise PlannerError(f"{self.name}: line {k_node.start_mark.line + 1}: unhashable mapping key",
                                   code="malformed_input") from None
            k = str(k) if isinstance(k, LStr) else k
            v = self._convert(v_node)
            mapping[k] = v
            mapping.key_lines[k] = k_node.start_mark.line + 1
            size += self.size(k) + self.size(v)
            self._check(size)
        for m in merges:
            sources = m.value if isinstance(m, y.SequenceNode) else [m]
            for src in sources:
                merged = self._convert(src)
                if not isinstance(merged, dict):
                    raise PlannerError(f"{self.name}: line {line}: `<<` must merge a mapping",
                                       code="malformed_input")
                for mk, mv in merged.items():
                    if mk not in mapping:          # explicit keys win over merged ones
                        mapping[mk] = mv
                        mapping.key_lines[mk] = merged.line_of(mk) if isinstance(merged, LMap) else line
                        size += 1 + self.size(mv)
                        self._check(size)
        self.sizes[id(mapping)] = size
        return mapping
