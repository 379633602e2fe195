"""Conditions flow designers write, evaluated without eval().

A condition is a Python-looking expression parsed with `ast` and walked here;
only names (flow variables, dotted names read into dicts), literals,
comparisons, `in`, `and`/`or`/`not`, + - * / % and a few pure functions are
allowed. Anything else (calls to other functions, attributes of objects,
subscripts, lambdas...) is refused when the flow is loaded, so a YAML file
can never run code.

    customer_segment == "vip" and attempts < 3
    department in ["sales", "billing"]
    len(account) == 6 or caller_id == ""
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .context import lookup


class ExpressionError(ValueError):
    """An expression the language does not allow, or that failed to evaluate."""


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod,
}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "int": int, "str": str, "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(), "defined": lambda v: v not in (None, ""),
}


def parse(text: str) -> ast.Expression:
    """Parse and check an expression; raise ExpressionError naming what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"{text!r}: only {', '.join(FUNCTIONS)} may be called")
            if node.keywords:
                raise ExpressionError(f"{text!r}: no keyword arguments")
        elif isinstance(node, ast.Attribute):
            if _dotted(node) is None or node.attr.startswith("_"):
                raise ExpressionError(f"{text!r}: attributes only on variable names")
        elif not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{text!r}: {type(node).__name__} is not allowed")
    return tree


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
    ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, *_COMPARE, *_BINARY,
)


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def names(text: str) -> set[str]:
    """The variables an expression reads (the first part of dotted names)."""
    found: set[str] = set()
    for node in ast.walk(parse(text)):
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS and node.id not in _CONSTANTS:
            found.add(node.id)
    return found


_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}


def evaluate(text: str, variables: Mapping[str, Any]) -> Any:
    """The expression's value; unknown variables are None (a missing value, not an error)."""
    return _eval(parse(text).body, variables)


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _CONSTANTS[node.id] if node.id in _CONSTANTS else lookup(env, node.id)
    if isinstance(node, ast.Attribute):
        return lookup(env, _dotted(node) or "")
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _safely(FUNCTIONS[node.func.id], *[_eval(a, env) for a in node.args])
    if isinstance(node, ast.BinOp):
        return _safely(_BINARY[type(node.op)], _eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, env)
            if not _safely(_COMPARE[type(op)], left, right):
                return False
            left = right
        return True
    raise ExpressionError(f"{type(node).__name__} is not allowed")


def _safely(func: Callable[..., Any], *args: Any) -> Any:
    """Type mismatches (None < 3) make a condition false instead of failing the call."""
    try:
        return func(*args)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
