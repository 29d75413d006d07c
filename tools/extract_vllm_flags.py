"""Extract the `vllm serve` flag table from vLLM's source, and rewrite planner/release/vllm_flags.json with it.

    python tools/extract_vllm_flags.py VLLM_PACKAGE_DIR_OR_WHEEL VERSION [ORIGIN]

VLLM_PACKAGE_DIR_OR_WHEEL is the `vllm/` folder of a source tree or an unpacked wheel, or a wheel file
itself (`pip download --no-deps vllm==X -d DIR`): only the files the extractor reads are taken from the
zip (`SOURCE_FILES`), nothing is installed or imported. The planner only reads the JSON
(planner/release/vllm_flags.py); this tool is how its `snapshots` came to be, and tests/test_vllm_flags.py runs it on
the 0.33.0 wheel and compares with what is shipped.

Pure `ast`: vLLM is not imported. It mirrors `get_kwargs`/`_compute_kwargs` in vllm/engine/arg_utils.py
(how a config field's type becomes argparse kwargs) and `EnableDisableAction` (which spellings a boolean
gets).
"""

from __future__ import annotations

import ast
import fnmatch
import json
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from planner.release.vllm_flags import parse_version

DATA = Path(__file__).resolve().parent.parent / "planner" / "release" / "vllm_flags.json"

# What the extractor reads from a wheel (the config classes, serve's parser, EngineArgs and
# FlexibleArgumentParser, each where one release or another kept it). fnmatch's `*` crosses `/`.
SOURCE_FILES = ("vllm/config.py", "vllm/config/*.py", "vllm/engine/arg_utils.py", "vllm/entrypoints/*/cli_args.py",
                "vllm/utils.py", "vllm/utils/__init__.py", "vllm/utils/argparse_utils.py")


def unpack_sources(wheel: Path, dest: Path) -> Path:
    """Copy the `SOURCE_FILES` of a vLLM wheel into `dest`; returns the `vllm/` folder to extract from."""
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in SOURCE_FILES):
                zf.extract(name, dest)
    return dest / "vllm"


_HUMAN_TYPES = {"human_readable_int": "human_int", "human_readable_int_or_auto": "human_int_or_auto"}


def _human_int_fields(tree: Any) -> dict[str, str]:
    """Fields `get_kwargs` gives vLLM's human-readable integer types, read from the release's source:
    `if name in {...}:` / `if name == "max_model_len":` branches that set `kwargs[name]["type"]`."""
    out: dict[str, str] = {}
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        sets = {st.targets[0].id: st.value for st in ast.walk(func) if isinstance(st, ast.Assign)
                and isinstance(st.targets[0], ast.Name) and isinstance(st.value, ast.Set)}
        for node in ast.walk(func):
            if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
                continue
            kind = next((_HUMAN_TYPES[v.value.id] for st in node.body for v in [st]
                         if isinstance(v, ast.Assign) and isinstance(v.value, ast.Name)
                         and v.value.id in _HUMAN_TYPES), None)
            if kind is None:
                continue
            comp = node.test.comparators[0]
            comp = sets.get(comp.id, comp) if isinstance(comp, ast.Name) else comp
            names = comp.elts if isinstance(comp, ast.Set | ast.Tuple | ast.List) else [comp]
            for n in names:
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    out.setdefault(n.value, kind)
    return out


@dataclass
class _ClassDef:
    fields: dict[str, Any]             # field name -> ast annotation
    bases: list[str]
    is_dataclass: bool


# Where `make_arg_parser` (serve's parser) lives; it moved between releases.
_CLI_ARGS_CANDIDATES = ("entrypoints/common/cli_args.py", "entrypoints/launchers/cli_args.py",
                        "entrypoints/openai/cli_args.py")


def _cli_args_file(root: Path) -> Path:
    for rel in _CLI_ARGS_CANDIDATES:
        if (root / rel).is_file():
            return root / rel
    raise FileNotFoundError(f"no serve cli_args.py under {root}")


def _index_classes(root: Path) -> tuple[dict[str, _ClassDef], dict[str, Any]]:
    classes: dict[str, _ClassDef] = {}
    aliases: dict[str, Any] = {}
    # Config classes: vllm/config.py in older releases, the vllm/config/ package later.
    files = [*sorted((root / "config").rglob("*.py")), *[p for p in (root / "config.py",) if p.is_file()],
             _cli_args_file(root), root / "engine/arg_utils.py"]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                decos = {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}
                flds = {
                    st.target.id: st.annotation
                    for st in node.body
                    if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                    and "ClassVar" not in ast.unparse(st.annotation)
                }
                classes[node.name] = _ClassDef(
                    fields=flds,
                    bases=[ast.unparse(b).split(".")[-1] for b in node.bases],
                    is_dataclass=bool(decos & {"config", "dataclass"}),
                )
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name
            ):
                aliases[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                if "TypeAlias" in ast.unparse(node.annotation):
                    aliases[node.target.id] = node.value
            elif type(node).__name__ == "TypeAlias":      # `type X = ...` (Python 3.12 syntax)
                alias: Any = node                         # ast.TypeAlias: not in 3.11's ast stubs
                aliases[alias.name.id] = alias.value
    return classes, aliases


def _field_annotation(classes: dict[str, _ClassDef], cls: str, name: str) -> Any:
    seen = cls
    while seen in classes:
        c = classes[seen]
        if name in c.fields:
            return c.fields[name]
        seen = c.bases[0] if c.bases else ""
    raise KeyError(f"{cls}.{name}")


def _type_parts(node: Any, aliases: dict[str, Any], depth: int = 0) -> list[tuple[str, Any]]:
    """Flatten a type annotation into (top-level name, node) pairs, like typing.get_args over unions."""
    if depth > 8:
        return [("?", node)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _type_parts(node.left, aliases, depth + 1) + _type_parts(node.right, aliases, depth + 1)
    if isinstance(node, ast.Constant):
        if node.value is None:
            return [("None", node)]
        if isinstance(node.value, str):
            return _type_parts(ast.parse(node.value, mode="eval").body, aliases, depth + 1)
        return [("?", node)]
    if isinstance(node, ast.Subscript):
        head = ast.unparse(node.value).split(".")[-1]
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return [*_type_parts(elts[0], aliases, depth + 1), ("None", node)]
        if head == "Union":
            return [p for e in elts for p in _type_parts(e, aliases, depth + 1)]
        if head in ("Annotated", "InitVar", "SkipValidation"):
            return _type_parts(elts[0], aliases, depth + 1)
        return [(head, node)]
    name = ast.unparse(node).split(".")[-1]
    if name in aliases:
        return _type_parts(aliases[name], aliases, depth + 1)
    return [(name, node)]


def _literal_constants(node: Any) -> list[Any]:
    elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return [e.value for e in elts if isinstance(e, ast.Constant)]


def _literal_values(node: Any) -> list[str]:
    return [str(v) for v in _literal_constants(node)]


def _kwargs_from_type(field: str, ann: Any, classes: dict[str, _ClassDef],
                      aliases: dict[str, Any], human: dict[str, str]) -> dict[str, Any]:
    """The (nargs, type, choices) `_compute_kwargs` derives from a config field's annotation."""
    parts = _type_parts(ann, aliases)
    names = {n for n, _ in parts}
    if any(n in classes and classes[n].is_dataclass for n in names):
        return {"nargs": "1", "type": "json"}
    if names == {"bool", "str", "None"}:
        return {"nargs": "?", "type": "str"}
    if "bool" in names:
        return {"nargs": "0", "type": "bool", "boolean_optional": True}
    if "Literal" in names:
        lit = next(n for k, n in parts if k == "Literal")
        values = _literal_values(lit)
        if "str" in names or not values:
            return {"nargs": "1", "type": "str"}
        # literal_to_kwargs: `type` is the type of the options (Literal[8, 16, ...] -> int), so argparse
        # converts the word before it checks the choice.
        if all(isinstance(v, int) and not isinstance(v, bool) for v in _literal_constants(lit)):
            return {"nargs": "1", "type": "int", "choices": sorted(values, key=int)}
        return {"nargs": "1", "type": "str", "choices": sorted(values)}
    for coll in ("tuple", "list", "set"):
        if coll in names:
            node = next(n for k, n in parts if k == coll)
            elem = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            elem_names = {k for k, _ in _type_parts(elem, aliases)}
            # collection_to_kwargs: a union element type must include str and is parsed as str.
            elem_type = next((t for t in ("int", "float") if elem_names == {t}), "str")
            return {"nargs": "+", "type": elem_type}
    if "int" in names:
        return {"nargs": "1", "type": human.get(field, "int")}
    if "float" in names:
        return {"nargs": "1", "type": "float"}
    if names & {"dict", "Mapping"} or any(n.endswith("Dict") for n in names):
        return {"nargs": "1", "type": "json_or_str" if "str" in names else "json"}
    return {"nargs": "1", "type": "str"}


def _negatives(options: list[str], enable_disable: bool) -> list[str]:
    """Spellings argparse's BooleanOptionalAction adds for a boolean flag (`--no-x`), plus the
    `--enable-x`/`--disable-x` inverses when the release registers vLLM's EnableDisableAction."""
    out: list[str] = []
    for opt in options:
        if opt.startswith("--"):
            out.append("--no-" + opt[2:])
            if not enable_disable:
                continue
            for prefix, inverse in (("--enable-", "--disable-"), ("--disable-", "--enable-")):
                if opt.startswith(prefix):
                    out.append(inverse + opt.removeprefix(prefix))
    return out


# argparse's own group for options added to the parser itself (its title since Python 3.10, the
# Pythons vLLM releases with argument groups run on): `vllm serve --help=options` lists them.
UNGROUPED = "options"


def _title_of(call: Any, names: dict[str, Any], cls_name: str | None) -> str | None:
    """The title of a `parser.add_argument_group(title=..., ...)` call (or its first argument): a string
    constant, or `cls.__name__.replace("Args", "")` (FrontendArgs.add_cli_args from 0.19), directly or
    through a local name."""
    node = next((k.value for k in call.keywords if k.arg == "title"), call.args[0] if call.args else None)
    if isinstance(node, ast.Name) and node.id in names:
        node = names[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (cls_name is not None and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "replace" and ast.unparse(node.func.value) == "cls.__name__"
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
        old, new = (cast(Any, a).value for a in node.args)
        return cls_name.replace(old, new)
    return None


def _group_titles(func: Any, cls_name: str | None = None) -> dict[str, list[tuple[int, str]]]:
    """`var -> [(line, title), ...]` for every `var = parser.add_argument_group(...)` in one function body
    (a name may be bound to several groups in turn, so each add_argument takes the latest one above it)."""
    names = {st.targets[0].id: st.value for st in ast.walk(func)
             if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name)}
    out: dict[str, list[tuple[int, str]]] = {}
    for st in ast.walk(func):
        if not (isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name)
                and isinstance(st.value, ast.Call) and isinstance(st.value.func, ast.Attribute)
                and st.value.func.attr == "add_argument_group"):
            continue
        title = _title_of(st.value, names, cls_name)
        if title is None:
            raise ValueError(f"line {st.lineno}: argument group title not read: {ast.unparse(st.value)}")
        out.setdefault(st.targets[0].id, []).append((st.lineno, title))
    for bound in out.values():
        bound.sort()
    return out


def _group_of(call: Any, groups: dict[str, list[tuple[int, str]]]) -> str:
    """The group an `x.add_argument(...)` call registers into: x's latest group above the call, or
    argparse's own group when x is the parser itself."""
    target = call.func.value
    if isinstance(target, ast.Name) and target.id in groups:
        above = [title for line, title in groups[target.id] if line <= call.lineno]
        if above:
            return above[-1]
    return UNGROUPED


def _frontend_group_title(cli_args: Any, cls_name: str) -> str:
    """The group FrontendArgs.add_cli_args registers its fields into (from 0.19: one per class, titled
    after it), else the parser's own."""
    for node in ast.walk(cli_args):
        if isinstance(node, ast.FunctionDef) and node.name == "add_cli_args":
            titles = [t for bound in _group_titles(node, cls_name).values() for _, t in bound]
            if titles:
                return titles[0]
    return UNGROUPED


def extract_snapshot(root: str | Path) -> list[dict[str, Any]]:
    """Every option `vllm serve` registers, read from a vLLM source tree (the `vllm/` package folder).

    Covers `make_arg_parser` (entrypoints/common/cli_args.py: serve's own options and FrontendArgs)
    and `EngineArgs.add_cli_args` / `AsyncEngineArgs.add_cli_args` (engine/arg_utils.py).
    """
    root = Path(root)
    classes, aliases = _index_classes(root)
    flags: dict[str, dict[str, Any]] = {}
    # EnableDisableAction (pairs --enable-x with --disable-x) is registered for BooleanOptionalAction
    # by FlexibleArgumentParser in 0.33.0; 0.32.0 has plain BooleanOptionalAction (--x / --no-x only).
    # FlexibleArgumentParser lived in vllm/utils.py, then vllm/utils/__init__.py, then argparse_utils.py.
    parser_src = "".join(p.read_text(encoding="utf-8") for p in (root / "utils/argparse_utils.py",
                         root / "utils/__init__.py", root / "utils.py") if p.is_file())
    enable_disable = "class EnableDisableAction" in parser_src

    def add(options: list[str], dest: str, kw: dict[str, Any], group: str) -> None:
        entry = {"options": options, "dest": dest, "nargs": kw["nargs"], "type": kw["type"]}
        if kw.get("choices"):
            entry["choices"] = kw["choices"]
        if kw.get("boolean_optional"):
            entry["negatives"] = [n for n in _negatives(options, enable_disable) if n not in options]
        entry["group"] = group
        flags[dest if dest not in flags else options[0]] = entry

    def explicit_kwargs(keywords: list[Any], base: dict[str, Any]) -> dict[str, Any]:
        kw = dict(base)
        for k in keywords:
            if k.arg is None:
                continue
            text = ast.unparse(k.value)
            if k.arg == "action":
                if text in ("'store_true'", "'store_false'", "'store_const'"):
                    kw.update(nargs="0", type="bool", boolean_optional=False)
                elif text.endswith("BooleanOptionalAction"):
                    kw.update(nargs="0", type="bool", boolean_optional=True)
                elif text.endswith("StoreBoolean"):
                    # vllm/utils.py StoreBoolean (0.6.x): nargs="?", const="True", `true`/`false` only.
                    kw.update(nargs="?", type="store_boolean", boolean_optional=False)
            elif k.arg == "nargs":
                kw["nargs"] = {"'+'": "+", "'*'": "+", "'?'": "?"}.get(text, "1")
            elif k.arg == "type":
                kw["type"] = {"int": "int", "float": "float", "json.loads": "json",
                              "human_readable_int": "human_int"}.get(text, "str")
                kw.pop("choices", None) if kw.get("type") != "str" else None
            elif k.arg == "choices" and isinstance(k.value, ast.List | ast.Tuple):
                if all(isinstance(e, ast.Constant) for e in k.value.elts):
                    kw["choices"] = sorted(str(e.value) for e in k.value.elts if isinstance(e, ast.Constant))
                else:
                    # `[*QUANTIZATION_METHODS, None]`: a list built at import time is not in the
                    # source; recording only its literal part would refuse every real choice.
                    kw.pop("choices", None)
        if kw.get("choices") and kw["type"] == "int":
            kw["choices"] = sorted(kw["choices"], key=int)
        return kw

    def scan(func: Any, kwarg_vars: dict[str, tuple[str, str | None]]) -> None:
        """Walk one add_cli_args body: `x_kwargs = get_kwargs(Cls)` then `g.add_argument(...)`."""
        groups = _group_titles(func)
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                v = node.value
                # x = get_kwargs(Cls)  or  x = get_kwargs(Cls)["field"]
                sub_field: Any = None
                if isinstance(v, ast.Subscript) and isinstance(v.slice, ast.Constant):
                    sub_field = v.slice.value
                    v = v.value
                if isinstance(v, ast.Call) and ast.unparse(v.func).endswith("get_kwargs"):
                    kwarg_vars[node.targets[0].id] = (ast.unparse(v.args[0]).split(".")[-1], sub_field)
        for node in ast.walk(func):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument"):
                continue
            options = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not options or not options[0].startswith("-"):
                continue                                  # the positional model_tag
            base: dict[str, Any] = {"nargs": "1", "type": "str"}
            for k in node.keywords:
                if k.arg is not None:
                    continue
                src = k.value
                overrides: list[Any] = []
                if isinstance(src, ast.Dict):            # **{**x["f"], "default": None, ...}
                    for key, val in zip(src.keys, src.values, strict=True):
                        if key is None:
                            src = val
                        elif isinstance(key, ast.Constant):
                            overrides.append(ast.keyword(arg=str(key.value), value=val))
                if isinstance(src, ast.Subscript) and isinstance(src.value, ast.Name):
                    cls, _ = kwarg_vars[src.value.id]
                    field = cast(Any, src.slice).value
                elif isinstance(src, ast.Name) and kwarg_vars.get(src.id, (None, None))[1]:
                    cls, field = kwarg_vars[src.id]
                else:
                    continue
                base = _kwargs_from_type(field, _field_annotation(classes, cls, field), classes, aliases, human)
                base["field"] = field
                base = explicit_kwargs(overrides, base)
            kw = explicit_kwargs(node.keywords, base)
            dest = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "dest"), None)
            long = next((o for o in options if o.startswith("--")), options[0])
            add(options, dest or long.lstrip("-").replace("-", "_"), kw, _group_of(node, groups))

    arg_utils = ast.parse((root / "engine/arg_utils.py").read_text(encoding="utf-8"))
    cli_args = ast.parse(_cli_args_file(root).read_text(encoding="utf-8"))
    human = _human_int_fields(arg_utils)
    for tree in (cli_args, arg_utils):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in ("make_arg_parser", "add_cli_args"):
                if tree is cli_args and node.name == "add_cli_args":
                    continue                              # FrontendArgs: handled below from its fields
                scan(node, {})

    # FrontendArgs.add_cli_args registers one `--field-name` per dataclass field (inherited ones
    # included), after `_customize_cli_kwargs` adjusts some of them.
    customize: dict[str, dict[str, Any]] = {}
    for node in ast.walk(cli_args):
        if isinstance(node, ast.FunctionDef) and node.name == "_customize_cli_kwargs":
            for st in ast.walk(node):
                target = None
                if isinstance(st, ast.Delete):
                    target, value = st.targets[0], None
                elif isinstance(st, ast.Assign):
                    target, value = st.targets[0], st.value
                if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Subscript)):
                    continue
                field, key = cast(Any, target.value.slice).value, cast(Any, target.slice).value
                customize.setdefault(field, {})[key] = None if value is None else ast.unparse(value)
    frontend_group = _frontend_group_title(cli_args, "FrontendArgs")
    chain: list[str] = []
    cls_name: str | None = "FrontendArgs"
    while cls_name in classes:
        chain.append(cls_name)
        bases = classes[cls_name].bases
        cls_name = bases[0] if bases else None
    seen_fields: dict[str, Any] = {}
    for name in reversed(chain):
        seen_fields.update(classes[name].fields)
    for field, ann in seen_fields.items():
        kw = _kwargs_from_type(field, ann, classes, aliases, human)
        change = customize.get(field, {})
        if "nargs" in change and change["nargs"] is None:
            kw["nargs"] = "1"
        if change.get("type") in ("json.loads",):
            kw.update(type="json", nargs=kw["nargs"])
        if change.get("action") == "'append'":
            kw.update(nargs="1", type="str")
        add([f"--{field.replace('_', '-')}"], field, kw, frontend_group)
    if not any(e["group"] != UNGROUPED for e in flags.values()):
        for e in flags.values():          # a release without argument groups (0.6.x): no group facts
            del e["group"]
    return sorted(flags.values(), key=lambda e: e["options"][0])


def extract_model_positional(root: str | Path) -> bool:
    """Whether the API server's own parser (`make_arg_parser`) takes the model as a positional argument.

    `vllm serve MODEL` always did (the serve subcommand added it), but `python -m
    vllm.entrypoints.openai.api_server MODEL` only once make_arg_parser registered `model_tag`.
    """
    tree = ast.parse(_cli_args_file(Path(root)).read_text(encoding="utf-8"))
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef) and func.name == "make_arg_parser":
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "add_argument" and node.args \
                        and isinstance(node.args[0], ast.Constant) and node.args[0].value == "model_tag":
                    return True
    return False


def dump(data: dict[str, Any]) -> str:
    """JSON with one flag per line: compact, and a re-extraction diffs line by line."""
    parts = ["{", f' "_about": {json.dumps(data["_about"])},', ' "history": [']
    parts.append(",\n".join("  " + json.dumps(h) for h in data["history"]))
    parts.append(" ],")
    parts.append(' "snapshots": {')
    snaps = sorted(data["snapshots"].items(), key=lambda kv: parse_version(kv[0]))
    for n, (version, snap) in enumerate(snaps):
        parts.append(f"  {json.dumps(version)}: {{\"source\": {json.dumps(snap['source'])}, "
                     f"\"model_positional\": {json.dumps(snap['model_positional'])}, \"flags\": [")
        parts.append(",\n".join("   " + json.dumps(f) for f in snap["flags"]))
        parts.append("  ]}" + ("," if n + 1 < len(snaps) else ""))
    parts.append(" }")
    parts.append("}")
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    """Regenerate one snapshot in planner/release/vllm_flags.json."""
    if len(argv) not in (2, 3):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    src, version = Path(argv[0]), argv[1]
    parse_version(version)
    where = argv[2] if len(argv) > 2 else str(src)
    if src.suffix == ".whl" and src.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            return _write(unpack_sources(src, Path(tmp)), version, where)
    if not (src / "engine" / "arg_utils.py").is_file():
        print(f"{src}: not a vllm/ package folder nor a wheel", file=sys.stderr)
        return 2
    return _write(src, version, where)


def _write(root: Path, version: str, where: str) -> int:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["snapshots"][version] = {"source": f"{where}; extracted by tools/extract_vllm_flags.py",
                                  "model_positional": extract_model_positional(root),
                                  "flags": extract_snapshot(root)}
    DATA.write_text(dump(data), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
