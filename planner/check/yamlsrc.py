"""YAML documents with line numbers: safe loading only, size and node limits, anchors and merge keys.

`load_documents(text)` composes each document with PyYAML's safe composer (the C one when available)
and converts the node graph itself, so that every mapping and sequence remembers the line of each key
and item (`LMap.line_of`, `LSeq.line_of`). Aliases reuse the converted object of their anchor, so
anchors cost nothing and alias bombs cannot expand; merge keys (`<<: *base`) are applied as YAML 1.1
says (explicit keys win).
"""

from __future__ import annotations

from typing import Any

from planner.errors import PlannerError

MAX_BYTES = 8 * 2**20          # a manifest bigger than this is not a deployment file
MAX_NODES = 500_000            # nodes per stream after anchors are shared


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


def load_documents(text: str, *, name: str) -> list[tuple[Any, int]]:
    """[(document, first line)] for every document of a YAML stream. Raises PlannerError if malformed."""
    yaml, loader_cls = _loader()
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise PlannerError(f"{name}: larger than {MAX_BYTES >> 20} MiB", code="input_too_large")
    try:
        _count_nodes(yaml, text, loader_cls, name)
        nodes = list(yaml.compose_all(text, Loader=loader_cls))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PlannerError(f"{name}: not valid YAML: {problem}{where}", code="malformed_input") from None
    except (ValueError, RecursionError) as exc:
        raise PlannerError(f"{name}: not valid YAML: {exc}", code="malformed_input") from None
    conv = _Converter(yaml, name)
    try:
        return [(conv.convert(n), n.start_mark.line + 1) for n in nodes if n is not None]
    except RecursionError:
        raise PlannerError(f"{name}: YAML nested too deeply", code="input_too_large") from None


def _count_nodes(yaml: Any, text: str, loader_cls: Any, name: str) -> None:
    """Refuse more than MAX_NODES nodes while parsing, before composing: composing builds every node
    first (about 1 GiB and 10 s for an 8 MiB stream of small documents), parsing streams events."""
    node_events = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent, yaml.AliasEvent)
    count = 0
    for event in yaml.parse(text, Loader=loader_cls):
        if isinstance(event, node_events):
            count += 1
            if count > MAX_NODES:
                raise PlannerError(f"{name}: more than {MAX_NODES} YAML nodes", code="input_too_large")


class _Converter:
    def __init__(self, yaml: Any, name: str) -> None:
        self.yaml = yaml
        self.name = name
        self.memo: dict[int, Any] = {}
        self.count = 0
        # A plain SafeConstructor resolves scalars exactly as yaml.safe_load would (ints, bools, nulls).
        self.scalars = yaml.constructor.SafeConstructor()

    def convert(self, node: Any) -> Any:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        self.count += 1
        if self.count > MAX_NODES:
            raise PlannerError(f"{self.name}: more than {MAX_NODES} YAML nodes", code="input_too_large")
        y = self.yaml
        line = node.start_mark.line + 1
        if node.tag.startswith("tag:yaml.org,2002:python/"):
            # Object-building tags have no place in a deployment file; nothing is ever constructed here.
            raise PlannerError(f"{self.name}: line {line}: unsupported YAML tag {node.tag}", code="malformed_input")
        if isinstance(node, y.ScalarNode):
            try:
                # Application tags (CloudFormation's !Ref, ...) are read as their plain text.
                value = node.value if node.tag.startswith("!") else self.scalars.construct_object(node)
            except (y.YAMLError, ValueError, OverflowError) as exc:
                raise PlannerError(f"{self.name}: line {line}: bad scalar: {exc}", code="malformed_input") \
                    from None
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
            for item in node.value:
                seq.append(self.convert(item))
                seq.item_lines.append(item.start_mark.line + 1)
            return seq
        mapping = LMap()
        mapping.line = line
        mapping.key_lines = {}
        self.memo[key] = mapping
        merges: list[Any] = []
        for k_node, v_node in node.value:
            if k_node.tag == "tag:yaml.org,2002:merge":
                merges.append(v_node)
                continue
            k = self.convert(k_node)
            try:
                hash(k)
            except TypeError:
                raise PlannerError(f"{self.name}: line {k_node.start_mark.line + 1}: unhashable mapping key",
                                   code="malformed_input") from None
            k = str(k) if isinstance(k, LStr) else k
            mapping[k] = self.convert(v_node)
            mapping.key_lines[k] = k_node.start_mark.line + 1
        for m in merges:
            sources = m.value if isinstance(m, y.SequenceNode) else [m]
            for src in sources:
                merged = self.convert(src)
                if not isinstance(merged, dict):
                    raise PlannerError(f"{self.name}: line {line}: `<<` must merge a mapping",
                                       code="malformed_input")
                for mk, mv in merged.items():
                    if mk not in mapping:          # explicit keys win over merged ones
                        mapping[mk] = mv
                        mapping.key_lines[mk] = merged.line_of(mk) if isinstance(merged, LMap) else line
        return mapping
