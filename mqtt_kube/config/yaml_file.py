"""Read a configuration file into plain data that still knows its line numbers.

The schema reports problems by path (`bindings[2].watch[0].locus`); a user fixes them by
line. So every mapping and sequence comes back as a `LineDict`/`LineList` that remembers
the line of each key and item, and `line_of()` turns a path back into a line.

The loader is PyYAML's safe loader in mqtt-kube's YAML dialect (`on off yes no` stay
strings: `ON:` is the key "ON", see `mqtt_kube.core.yaml_dialect`; templates differ), with the tags
`!relpath`, `!env` and `!file`. Nothing here raises for a mistake in the file: every
problem is collected as a `ConfigProblem`, so the user sees all of them at once.

A file of plain mappings, lists and untagged scalars (nearly every configuration) is built
straight from the parser's events, without PyYAML's nodes in between: a third less time
for 10,000 bindings. Anything else in it (a tag, an anchor or alias, a merge key, a key
that is not a scalar, a YAML error) sends the file through the node-based loader instead,
which reads it as it always has.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from mqtt_kube.core.errors import ConfigProblem
from mqtt_kube.core.yaml_dialect import (
    MERGE_TAG,
    STR_TAG,
    VALUE_TAG,
    FastSafeLoader,
    use_dialect,
)

# Keys whose values must never be echoed in a problem: an unquoted `!x` or `*x` is
# read as a YAML tag or alias, and the message would otherwise show the secret.
SECRET_KEYS = frozenset({"password", "keyfile_password", "token"})
_OUR_TAGS = frozenset({"!relpath", "!env", "!file"})
_FLATTENED = frozenset({MERGE_TAG, VALUE_TAG})  # keys that flatten_mapping rewrites

PathPart = Hashable  # a mapping key (usually str) or a list index
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class LineDict(dict[Any, Any]):
    """A mapping from the file: `line` is where it starts, `lines[key]` where each key is."""

    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}
        # (key or None for the mapping itself, message, line) for keys that could not be kept
        self.key_problems: list[tuple[Any, str, int]] = []


class LineList(list[Any]):
    """A sequence from the file: `line` is where it starts, `lines[i]` where item i is."""

    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []


@dataclass(frozen=True)
class Failed:
    """Stands where a tag could not produce a value; replaced by None after loading."""

    message: str
    line: int


class _Unusual(Exception):
    """The event stream holds something only the node-based loader reads right."""


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class ConfigLoader(FastSafeLoader):  # type: ignore[valid-type,misc]
    """The safe loader in mqtt-kube's YAML dialect (`yaml_dialect`), plus our three tags."""

    base_dir: Path = Path()

    def __init__(self, stream: str, *, base_dir: Path) -> None:
        self._plain_tags: dict[str, str] = {}  # before the parser starts resolving
        super().__init__(stream)
        self.base_dir = base_dir

    # Mappings and sequences are built in one go, not by PyYAML's two-step generators (which
    # only serve recursive aliases, nonsense in a configuration: refused with their line),
    # and plain strings are taken straight from their node: a file of 10,000 bindings
    # loads in half the time.

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        """The tag of a node; for a plain scalar (which depends on its text alone) cached."""
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]

    def _value(self, node: yaml.Node) -> Any:
        if node.tag == STR_TAG and type(node) is yaml.ScalarNode:
            return node.value  # what construct_yaml_str gives
        return self.construct_object(node)

    def construct_line_map(self, node: yaml.MappingNode) -> LineDict:
        data = LineDict()
        data.line = _line(node)
        own_keys: set[int] | None = None
        if any(key.tag in _FLATTENED for key, _ in node.value):
            own_keys = {id(key) for key, _ in node.value if key.tag != MERGE_TAG}
            self.flatten_mapping(node)
        lines = data.lines
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = self._value(key_node)
            if isinstance(key, Failed) or not isinstance(key, Hashable):
                message = key.message if isinstance(key, Failed) else "a key must be a scalar"
                data.key_problems.append((None, message, _line(key_node)))
                continue
            if own_keys is None or id(key_node) in own_keys:
                if key in seen:
                    data.key_problems.append((key, "this key is given twice", _line(key_node)))
                seen.add(key)
            value = self._value(value_node)
            if key in SECRET_KEYS and isinstance(value, Failed) and value_node.tag not in _OUR_TAGS:
                value = Failed(
                    "a YAML tag here (not shown: the value is a secret); quote a secret that "
                    "starts with !",
                    _line(value_node),
                )
            data[key] = value
            lines[key] = _line(key_node)
        return data

    def construct_line_list(self, node: yaml.SequenceNode) -> LineList:
        data = LineList()
        data.line = _line(node)
        for item in node.value:
            data.append(self._value(item))
            data.lines.append(_line(item))
        return data

    def plain_document(self) -> tuple[object, bool]:
        """(the one document, whether a key was given twice), built from the parser's
        events as `get_single_data` would build it; _Unusual for what it leaves to that."""
        get = self.get_event
        if type(get()) is not StreamStartEvent or type(get()) is not DocumentStartEvent:
            raise _Unusual
        stack: list[list[Any]] = []  # [LineDict, pending (key, line) or None] or [LineList]
        root: object = None
        twice = False
        while True:
            event = get()
            kind = type(event)
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
                if not stack:
                    break
                continue
            if event.anchor is not None or event.tag not in (None, "!"):
                raise _Unusual
            line = event.start_mark.line + 1
            opened: list[Any] | None = None
            if kind is ScalarEvent:
                tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
                value: Any = event.value
                if tag != STR_TAG:
                    if tag in _FLATTENED:
                        raise _Unusual
                    scalar = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
                    value = self.construct_object(scalar)
            elif kind is MappingStartEvent:
                value = LineDict()
                value.line = line
                opened = [value, None]
            elif kind is SequenceStartEvent:
                value = LineList()
                value.line = line
                opened = [value]
            else:
                raise _Unusual
            if not stack:
                root = value
                if opened is None:
                    break
            elif len(top := stack[-1]) == 1:
                top[0].append(value)
                top[0].lines.append(line)
            elif top[1] is None:
                if opened is not None:
                    raise _Unusual  # a mapping or list as a key
                top[1] = (value, line)
                continue
            else:
                mapping, (key, key_line) = top
                top[1] = None
                if key in mapping:
                    mapping.key_problems.append((key, "this key is given twice", key_line))
                    twice = True
                mapping[key] = value
                mapping.lines[key] = key_line
            if opened is not None:
                stack.append(opened)
        if type(get()) is not DocumentEndEvent or type(get()) is not StreamEndEvent:
            raise _Unusual
        return root, twice

    def construct_relpath(self, node: yaml.Node) -> object:
        text = self._tag_text(node)
        if isinstance(text, Failed):
            return text
        return os.path.normpath(self.base_dir / os.path.expanduser(text))

    def construct_env(self, node: yaml.Node) -> object:
        name = self._tag_text(node)
        if isinstance(name, Failed):
            return name
        value = os.environ.get(name)
        if value is None:
            return Failed(f"environment variable {name} is not set", _line(node))
        return value

    def construct_file(self, node: yaml.Node) -> object:
        text = self._tag_text(node)
        if isinstance(text, Failed):
            return text
        path = self.base_dir / os.path.expanduser(text)
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return Failed(f"cannot read {path}: {reason}", _line(node))

    def construct_unknown(self, node: yaml.Node) -> object:
        return Failed(
            f"unknown tag {node.tag}: the tags mqtt-kube knows are !relpath, !env and !file",
            _line(node),
        )

    def _tag_text(self, node: yaml.Node) -> str | Failed:
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        if not value:
            return Failed(f"{node.tag} needs a name or path after it", _line(node))
        return str(value)


use_dialect(ConfigLoader, "config")
ConfigLoader.add_constructor("tag:yaml.org,2002:map", ConfigLoader.construct_line_map)
ConfigLoader.add_constructor("tag:yaml.org,2002:seq", ConfigLoader.construct_line_list)
ConfigLoader.add_constructor("!relpath", ConfigLoader.construct_relpath)
ConfigLoader.add_constructor("!env", ConfigLoader.construct_env)
ConfigLoader.add_constructor("!file", ConfigLoader.construct_file)
ConfigLoader.add_constructor(None, ConfigLoader.construct_unknown)


def load_yaml(path: Path, *, raw: bytes | None = None) -> tuple[object, list[ConfigProblem]]:
    """The file's data (LineDict/LineList inside) and every problem met while reading it.

    `raw` is the file's content when the caller has read it already. Values that a tag could
    not produce are None in the data; their problem is in the list.
    """
    source = str(path)
    try:
        content = path.read_bytes() if raw is None else raw
        text = content.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [ConfigProblem("", f"cannot read the file: {reason}", source=source)]
    base_dir = Path(os.path.abspath(path)).parent
    loader = None
    try:
        data, twice = _plain_data(text, base_dir)
        if data is _UNUSUAL:
            loader = ConfigLoader(text, base_dir=base_dir)
            data, twice = loader.get_single_data(), True
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        at = text.count("\n", 0, exc.position) + 1
        message = f"YAML: character #x{exc.character:04x} is not allowed ({exc.reason})"
        return None, [ConfigProblem("", message, line=at, source=source)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        if (exc.problem or "").startswith("found undefined alias"):
            # The name could be a secret written unquoted (`password: *x`); the line is enough.
            message = "found an undefined alias: a value that starts with * must be quoted"
        return None, [ConfigProblem("", f"YAML: {message}", line=line, source=source)]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem("", f"YAML: {exc}", source=source)]
    finally:
        if loader is not None:
            loader.dispose()
    problems = [
        ConfigProblem(format_path(where), message, line=line, source=source)
        for where, message, line in (_settle(data, ()) if twice else ())
    ]
    return data, problems


_UNUSUAL: object = object()


def _plain_data(text: str, base_dir: Path) -> tuple[object, bool]:
    """`plain_document` of `text`; (_UNUSUAL, True) when the file needs the full loader
    (a YAML error included: that loader names it as it always has)."""
    loader = ConfigLoader(text, base_dir=base_dir)
    try:
        return loader.plain_document()
    except (_Unusual, yaml.YAMLError):
        return _UNUSUAL, True
    finally:
        loader.dispose()


def _settle(data: object, where: tuple[PathPart, ...]) -> Iterator[tuple[Any, str, int | None]]:
    """Replace failed tag values by None, and yield their problems and duplicate keys."""
    if isinstance(data, LineDict):
        for key, message, line in data.key_problems:
            yield (where if key is None else (*where, key)), message, line
        for key, value in list(data.items()):
            if isinstance(value, Failed):
                data[key] = None
                yield (*where, key), value.message, value.line
            else:
                yield from _settle(value, (*where, key))
    elif isinstance(data, LineList):
        for index, value in enumerate(data):
            if isinstance(value, Failed):
                data[index] = None
                yield (*where, index), value.message, value.line
            else:
                yield from _settle(value, (*where, index))


def format_path(where: Sequence[PathPart]) -> str:
    """`("bindings", 2, "watch", 0, "locus")` → `bindings[2].watch[0].locus`."""
    text = ""
    for part in where:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def line_of(data: object, where: Sequence[PathPart]) -> int | None:
    """The line of the deepest part of `where` that exists in `data` (a key's own line)."""
    line = getattr(data, "line", None)
    node = data
    for part in where:
        if isinstance(node, LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line


def plain(data: object) -> Any:
    """A deep copy with ordinary dicts and lists, for templates and `raw`."""
    if isinstance(data, dict):
        return {key: plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data
