"""YAML loading that remembers the line of every mapping key.

Configuration and flows both owe their users errors that say file:line, so
both read YAML through this loader.
"""

from __future__ import annotations

from typing import Any

import yaml

KeyLines = dict[tuple[int, Any], int]


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line


class _LineLoader(yaml.SafeLoader):
    key_lines: KeyLines


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from exc
        mapping[key] = loader.construct_object(value_node, deep=True)
        loader.key_lines[(id(mapping), key)] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_with_lines(text: str) -> tuple[Any, KeyLines]:
    """Parse one YAML document; return the data and (id(mapping), key) -> line."""
    loader = _LineLoader(text)
    loader.key_lines = {}
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(mark.line + 1 if mark else 0, problem) from exc
    finally:
        loader.dispose()
    # The mappings stay alive inside `data`, so their ids stay valid with it.
    return data, loader.key_lines


def line_of(data: Any, lines: KeyLines, path: tuple[Any, ...]) -> int:
    """Line of the deepest key of `path` found in data (0 if none)."""
    node, line = data, 0
    for part in path:
        if isinstance(node, dict) and part in node:
            line = lines.get((id(node), part), line)
            node = node[part]
        else:
            break
    return line
