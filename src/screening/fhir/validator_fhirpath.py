"""A fast evaluator for the simple FHIRPath invariants most profiles use.

fhirpathpy walks its AST for every evaluation (tens of microseconds even for
`value.exists()`). This module compiles fhirpathpy's AST of an expression once into nested
Python closures over plain JSON, for a subset of FHIRPath: member access (choice elements by
their typed key), `$this`, `%resource`, `%rootResource`, `%context`, literals, boolean logic,
equality and order on numbers, membership, arithmetic on integers, and the functions in
`_FUNCTIONS`. Anything else fails to compile (`Unsupported`), and a value whose meaning could
differ from fhirpathpy's (dates compared as strings, `_x` companions, decimals in `mod`, ...)
raises `Unsupported` while evaluating: the caller then asks fhirpathpy. So a native result is
always the one fhirpathpy would give (tests compare the two on many resources).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from screening.fhir.fhirpath import R4_MODEL, FhirPathSyntaxError, compile_expression

Json = Any
Env = tuple[Json, Json, Json]  # %resource, %rootResource, %context
Fn = Callable[[list[Any], Env], list[Any]]

# Base names of the R4 choice elements (`value` for value[x]) and the type suffixes their JSON
# keys carry, from fhirpathpy's R4 model; other member names are read by their key only.
CHOICE_NAMES = frozenset(p.rsplit(".", 1)[-1] for p in R4_MODEL["choiceTypePaths"])
CHOICE_SUFFIXES = frozenset(t for types in R4_MODEL["choiceTypePaths"].values() for t in types)
_SUFFIXES = CHOICE_SUFFIXES
_DATE_LIKE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?(T|$)|^T?\d{2}:\d{2}")


class Unsupported(Exception):
    """The expression (or this evaluation of it) is outside the native subset."""


def compile_native(expression: str) -> Fn:
    """A native evaluator for `expression`; raises Unsupported when it is outside the subset."""
    try:
        tree = compile_expression(expression)
    except FhirPathSyntaxError as error:
        raise Unsupported(str(error)) from error
    return _node(tree)


def evaluate_native(fn: Fn, node: Json, env: Env) -> list[Any]:
    """Run a compiled expression with `node` as the focus (raises Unsupported on odd data)."""
    return fn([node], env)


# --------------------------------------------------------------------------- compiling


def _node(ast: dict[str, Any]) -> Fn:
    """Compile one AST node."""
    kind = ast.get("type")
    compiler = _COMPILERS.get(str(kind))
    if compiler is None:
        raise Unsupported(f"node {kind}")
    return compiler(ast)


def _children(ast: dict[str, Any]) -> list[dict[str, Any]]:
    """The child nodes of an AST node."""
    found: list[dict[str, Any]] = ast.get("children", [])
    return found


def _first(ast: dict[str, Any]) -> Fn:
    """Compile a node that just wraps its only child."""
    children = _children(ast)
    if len(children) != 1:
        raise Unsupported("wrapper")
    return _node(children[0])


def _term(ast: dict[str, Any]) -> Fn:
    """TermExpression / InvocationTerm: a term evaluated on the focus."""
    return _first(ast)


def _invocation(ast: dict[str, Any]) -> Fn:
    """`a.b` / `a.f()`: evaluate the left side, then the step on its result."""
    left, step = _children(ast)
    first = _node(left)
    if step.get("type") == "FunctionInvocation" and _function_name(step) == "ofType":
        return _of_type(left, first, step)
    then = _step(step)
    return lambda focus, env: then(first(focus, env), env)


def _step(ast: dict[str, Any]) -> Fn:
    """A member or function step applied to a collection."""
    kind = ast.get("type")
    if kind == "MemberInvocation":
        return _member(ast)
    if kind == "FunctionInvocation":
        return _function(ast)
    raise Unsupported(f"step {kind}")


def _member(ast: dict[str, Any]) -> Fn:
    """`name`: the values of a key in every object of the focus."""
    name = _children(ast)[0]["text"].strip("`")
    if name[:1].isupper():
        raise Unsupported("a type name as a member")
    choice = name in CHOICE_NAMES

    def member(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        for item in focus:
            if not isinstance(item, dict):
                continue
            if "_" + name in item:
                raise Unsupported("primitive extension companion")
            value = item.get(name)
            if value is None and choice:
                value = _choice_value(item, name)
            if value is None:
                continue
            if isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
        return out

    return member


def _choice_value(item: dict[str, Any], name: str) -> Any:
    """The value of a choice element (`valueQuantity` for `value`), or None."""
    size = len(name)
    for key, value in item.items():
        if len(key) > size and key.startswith(name) and key[size:] in _SUFFIXES:
            if key[0] == "_":
                raise Unsupported("primitive extension companion")
            return value
    if any(k.startswith("_" + name) for k in item):
        raise Unsupported("primitive extension companion")
    return None


def _of_type(left: dict[str, Any], first: Fn, step: dict[str, Any]) -> Fn:
    """`choice.ofType(T)`: only directly after a member that is a choice element."""
    params = _params(step)
    if len(params) != 1 or left.get("type") not in ("TermExpression", "InvocationExpression"):
        raise Unsupported("ofType")
    type_name = str(params[0].get("text", ""))
    member = _last_member(left)
    suffix = _of_type_suffix(type_name)
    if member is None or member not in CHOICE_NAMES or suffix is None:
        raise Unsupported("ofType on a non-choice")
    key = member + suffix
    parent = _parent_of_member(left)

    def of_type(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        for item in parent(focus, env):
            if not isinstance(item, dict):
                continue
            if member in item or "_" + key in item:
                raise Unsupported("ofType on a non-choice value")
            value = item.get(key)
            if value is not None:
                out.extend(value if isinstance(value, list) else [value])
        return out

    del first
    return of_type


def _last_member(ast: dict[str, Any]) -> str | None:
    """The member name a term or invocation ends with (`value` in `x.value`)."""
    node = ast
    while node.get("type") in ("TermExpression", "InvocationTerm"):
        node = _children(node)[0]
    if node.get("type") == "InvocationExpression":
        node = _children(node)[1]
    if node.get("type") == "MemberInvocation":
        return str(_children(node)[0]["text"])
    return None


def _parent_of_member(ast: dict[str, Any]) -> Fn:
    """The evaluator of what the final member is read from (the focus for a bare term)."""
    if ast.get("type") == "InvocationExpression":
        return _node(_children(ast)[0])
    return lambda focus, env: focus


def _function_name(ast: dict[str, Any]) -> str:
    """The name of a FunctionInvocation."""
    return str(_children(_children(ast)[0])[0]["text"])


def _params(ast: dict[str, Any]) -> list[dict[str, Any]]:
    """The argument nodes of a FunctionInvocation."""
    functn = _children(ast)[0]
    parts = _children(functn)
    return _children(parts[1]) if len(parts) > 1 else []


def _function(ast: dict[str, Any]) -> Fn:
    """A supported function applied to the focus collection."""
    name = _function_name(ast)
    params = _params(ast)
    if name == "_memo" and len(params) == 2:  # fhirpath.py's once-per-evaluation wrapper
        return _node(params[1])
    maker = _FUNCTIONS.get(name)
    if maker is None:
        return _unsupported(f"function {name}()")
    try:
        return maker([_node(p) for p in params])
    except Unsupported as problem:
        return _unsupported(str(problem))


def _unsupported(reason: str) -> Fn:
    """A part outside the subset: fails only when an evaluation reaches it."""

    def unsupported(focus: list[Any], env: Env) -> list[Any]:
        raise Unsupported(reason)

    return unsupported


def _function_term(ast: dict[str, Any]) -> Fn:
    """A function called on the focus itself (`exists()` at the start of an expression)."""
    return _function(ast)


def _this(ast: dict[str, Any]) -> Fn:
    """`$this`: the focus."""
    return lambda focus, env: focus


def _constant(ast: dict[str, Any]) -> Fn:
    """`%resource`, `%rootResource`, `%context` and the terminology constants."""
    name = str(_children(_children(ast)[0])[0]["text"]).strip("`'")
    index = {"resource": 0, "rootResource": 1, "context": 2}.get(name)
    if index is not None:
        return lambda focus, env: [env[index]]
    fixed = {"ucum": "http://unitsofmeasure.org", "sct": "http://snomed.info/sct"}
    fixed["loinc"] = "http://loinc.org"
    if name in fixed:
        text = fixed[name]
        return lambda focus, env: [text]
    raise Unsupported(f"%{name}")


def _literal(ast: dict[str, Any]) -> Fn:
    """String, number, boolean and empty literals."""
    child = _children(ast)[0]
    kind, text = child.get("type"), str(child.get("text", ""))
    value: Any
    if kind == "StringLiteral":
        value = _unquote(text)
    elif kind == "NumberLiteral" and re.fullmatch(r"\d+", text):
        value = int(text)
    elif kind == "BooleanLiteral":
        value = text == "true"
    elif kind == "NullLiteral":
        return lambda focus, env: []
    else:
        raise Unsupported(f"literal {kind}")
    return lambda focus, env: [value]


def _unquote(text: str) -> str:
    """The value of a FHIRPath string literal."""
    body = text[1:-1]
    if "\\" in body:
        if re.search(r"\\[^'\\/\"`]", body):
            raise Unsupported("escape in a string literal")
        body = re.sub(r"\\(.)", r"\1", body)
    return body


def _parenthesized(ast: dict[str, Any]) -> Fn:
    """`( expr )`."""
    return _first(ast)


# --------------------------------------------------------------------------- operators


def _truth(values: list[Any]) -> bool | None:
    """A collection in a boolean operator: None for empty, the boolean, else Unsupported."""
    if not values:
        return None
    if len(values) == 1 and type(values[0]) is bool:
        return bool(values[0])
    raise Unsupported("non-boolean operand")


def _boolean(ast: dict[str, Any]) -> Fn:
    """and, or, xor, implies with FHIRPath's three-valued logic."""
    left, right = (_node(c) for c in _children(ast))
    op = ast["terminalNodeText"][0]
    table = _LOGIC.get(op)
    if table is None:
        raise Unsupported(op)

    def logic(focus: list[Any], env: Env) -> list[Any]:
        result = table(_truth(left(focus, env)), lambda: _truth(right(focus, env)))
        return [] if result is None else [result]

    return logic


def _and(a: bool | None, b: Callable[[], bool | None]) -> bool | None:
    """FHIRPath `and`."""
    if a is False:
        return False
    other = b()
    if other is False:
        return False
    return True if a is True and other is True else None


def _or(a: bool | None, b: Callable[[], bool | None]) -> bool | None:
    """FHIRPath `or`."""
    if a is True:
        return True
    other = b()
    if other is True:
        return True
    return False if a is False and other is False else None


def _xor(a: bool | None, b: Callable[[], bool | None]) -> bool | None:
    """FHIRPath `xor`."""
    other = b()
    return None if a is None or other is None else a != other


def _implies(a: bool | None, b: Callable[[], bool | None]) -> bool | None:
    """FHIRPath `implies`."""
    if a is False:
        return True
    other = b()
    if other is True:
        return True
    return False if a is True and other is False else None


_LOGIC: dict[str, Callable[[bool | None, Callable[[], bool | None]], bool | None]] = {
    "and": _and,
    "or": _or,
    "xor": _xor,
    "implies": _implies,
}


def _plain(value: Any) -> Any:
    """A single value usable in equality or order: numbers and plain strings only."""
    if type(value) in (int, float):
        return value
    if isinstance(value, str) and not _DATE_LIKE.match(value):
        return value
    raise Unsupported("value needs typed comparison")


def _single(values: list[Any]) -> Any:
    """The one item of a collection (Unsupported for several)."""
    if len(values) != 1:
        raise Unsupported("not a singleton")
    return _plain(values[0])


def _equality(ast: dict[str, Any]) -> Fn:
    """`=` and `!=` on single numbers or strings (never on empty: fhirpathpy differs there)."""
    left, right = (_node(c) for c in _children(ast))
    op = ast["terminalNodeText"][0]
    if op not in ("=", "!="):
        raise Unsupported(op)
    negate = op == "!="

    def equal(focus: list[Any], env: Env) -> list[Any]:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            raise Unsupported("equality with an empty operand")
        x, y = _single(a), _single(b)
        if isinstance(x, str) != isinstance(y, str):
            return [negate]
        return [(x == y) != negate]

    return equal


def _inequality(ast: dict[str, Any]) -> Fn:
    """`<`, `<=`, `>`, `>=` on single numbers."""
    left, right = (_node(c) for c in _children(ast))
    op = ast["terminalNodeText"][0]
    test = _ORDER.get(op)
    if test is None:
        raise Unsupported(op)

    def order(focus: list[Any], env: Env) -> list[Any]:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            return []
        x, y = _single(a), _single(b)
        if isinstance(x, str) or isinstance(y, str):
            raise Unsupported("string order")
        return [test(x, y)]

    return order


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _arithmetic(ast: dict[str, Any]) -> Fn:
    """`+`, `-`, `*`, `mod`, `div` on single integers; `&` and `+` on strings."""
    left, right = (_node(c) for c in _children(ast))
    op = ast["terminalNodeText"][0]
    if op not in ("+", "-", "*", "mod", "div", "&"):
        raise Unsupported(op)

    def arithmetic(focus: list[Any], env: Env) -> list[Any]:
        a, b = left(focus, env), right(focus, env)
        if op == "&":
            return [_text(a) + _text(b)]
        if not a or not b:
            return []
        return _integer_op(op, _single(a), _single(b))

    return arithmetic


def _text(values: list[Any]) -> str:
    """An operand of `&`: empty is ''."""
    if not values:
        return ""
    value = _single(values)
    if not isinstance(value, str):
        raise Unsupported("& on a non-string")
    return value


def _integer_op(op: str, x: Any, y: Any) -> list[Any]:
    """Integer arithmetic, string `+`; anything else is left to fhirpathpy."""
    if op == "+" and isinstance(x, str) and isinstance(y, str):
        return [x + y]
    if type(x) is not int or type(y) is not int:
        raise Unsupported("arithmetic on non-integers")
    if op in ("mod", "div") and y == 0:
        return []
    if op == "mod":
        if x < 0 or y < 0:
            raise Unsupported("mod of negative numbers")
        return [x % y]
    if op == "div":
        return [int(x / y)]
    return [x + y if op == "+" else x - y if op == "-" else x * y]


def _polarity(ast: dict[str, Any]) -> Fn:
    """Unary minus on an integer literal or value."""
    inner = _first(ast)
    if ast["terminalNodeText"][0] != "-":
        return inner

    def negative(focus: list[Any], env: Env) -> list[Any]:
        values = inner(focus, env)
        if not values:
            return []
        value = _single(values)
        if type(value) is not int:
            raise Unsupported("minus on a non-integer")
        return [-value]

    return negative


def _membership(ast: dict[str, Any]) -> Fn:
    """`x in coll` and `coll contains x` on plain values."""
    left, right = (_node(c) for c in _children(ast))
    op = ast["terminalNodeText"][0]
    if op not in ("in", "contains"):
        raise Unsupported(op)

    def member(focus: list[Any], env: Env) -> list[Any]:
        a, b = left(focus, env), right(focus, env)
        item, coll = (a, b) if op == "in" else (b, a)
        if not item:
            return []
        wanted = _single(item)
        plain = [_plain(v) for v in coll]
        return [any(type(v) is type(wanted) and v == wanted for v in plain)]

    return member


def _union(ast: dict[str, Any]) -> Fn:
    """`a | b`: the distinct plain values of both."""
    left, right = (_node(c) for c in _children(ast))

    def union(focus: list[Any], env: Env) -> list[Any]:
        return _distinct(left(focus, env) + right(focus, env))

    return union


def _distinct(values: list[Any]) -> list[Any]:
    """Plain values without repeats, in order."""
    out: list[Any] = []
    for value in values:
        plain = _plain(value)
        if not any(type(o) is type(plain) and o == plain for o in out):
            out.append(plain)
    return out


# --------------------------------------------------------------------------- functions


def _no_args(args: list[Fn], name: str) -> None:
    """Functions that take no argument."""
    if args:
        raise Unsupported(f"{name}() with arguments")


def _exists(args: list[Fn]) -> Fn:
    """exists() and exists(criteria)."""
    if len(args) > 1:
        raise Unsupported("exists")
    if not args:
        return lambda focus, env: [bool(focus)]
    where = _where(args)
    return lambda focus, env: [bool(where(focus, env))]


def _empty(args: list[Fn]) -> Fn:
    """empty()."""
    _no_args(args, "empty")
    return lambda focus, env: [not focus]


def _not(args: list[Fn]) -> Fn:
    """not(): the negation of one boolean, else empty."""
    _no_args(args, "not")

    def negate(focus: list[Any], env: Env) -> list[Any]:
        if len(focus) != 1:
            if focus:
                raise Unsupported("not() on several items")
            return []
        if type(focus[0]) is not bool:
            raise Unsupported("not() on a non-boolean")
        return [not focus[0]]

    return negate


def _count(args: list[Fn]) -> Fn:
    """count()."""
    _no_args(args, "count")
    return lambda focus, env: [len(focus)]


def _has_value(args: list[Fn]) -> Fn:
    """hasValue(): one primitive value."""
    _no_args(args, "hasValue")

    def has_value(focus: list[Any], env: Env) -> list[Any]:
        return [len(focus) == 1 and not isinstance(focus[0], (dict, list))]

    return has_value


def _criterion(args: list[Fn], name: str) -> Fn:
    """The single criteria argument of where() and all()."""
    if len(args) != 1:
        raise Unsupported(name)
    return args[0]


def _where(args: list[Fn]) -> Fn:
    """where(criteria): the items for which the criteria is true."""
    criteria = _criterion(args, "where")

    def where(focus: list[Any], env: Env) -> list[Any]:
        return [item for item in focus if _truth(criteria([item], env)) is True]

    return where


def _all(args: list[Fn]) -> Fn:
    """all(criteria): true when the criteria is true for every item."""
    criteria = _criterion(args, "all")

    def every(focus: list[Any], env: Env) -> list[Any]:
        for item in focus:
            result = criteria([item], env)
            if not (len(result) == 1 and result[0] is True):
                if result and not (len(result) == 1 and type(result[0]) is bool):
                    raise Unsupported("all() criteria not boolean")
                return [False]
        return [True]

    return every


def _string_of(focus: list[Any]) -> str | None:
    """The single string of the focus, None when empty."""
    if not focus:
        return None
    if len(focus) != 1 or not isinstance(focus[0], str):
        raise Unsupported("not a single string")
    return str(focus[0])


def _starts_with(args: list[Fn]) -> Fn:
    """startsWith(prefix)."""
    if len(args) != 1:
        raise Unsupported("startsWith")
    (prefix_fn,) = args

    def starts(focus: list[Any], env: Env) -> list[Any]:
        text = _string_of(focus)
        prefix = prefix_fn([env[2]], env)
        if text is None or not prefix:
            raise Unsupported("startsWith on empty")
        value = _single(prefix)
        if not isinstance(value, str) or not text:
            raise Unsupported("startsWith argument")
        return [text.startswith(value)]

    return starts


def _length(args: list[Fn]) -> Fn:
    """length() of a string."""
    _no_args(args, "length")

    def length(focus: list[Any], env: Env) -> list[Any]:
        text = _string_of(focus)
        if text is None:
            raise Unsupported("length() on empty")
        return [len(text)]

    return length


def _to_string(args: list[Fn]) -> Fn:
    """toString() of a string or integer."""
    _no_args(args, "toString")

    def to_string(focus: list[Any], env: Env) -> list[Any]:
        if not focus:
            return []
        value = focus[0] if len(focus) == 1 else None
        if isinstance(value, str):
            return [value]
        if type(value) is int:
            return [str(value)]
        raise Unsupported("toString() of this value")

    return to_string


def _matches(args: list[Fn]) -> Fn:
    """matches(regex), with fhirpathpy's unanchored search."""
    if len(args) != 1:
        raise Unsupported("matches")
    (regex_fn,) = args
    cache: dict[str, re.Pattern[str]] = {}

    def matches(focus: list[Any], env: Env) -> list[Any]:
        text = _string_of(focus)
        regex = regex_fn([env[2]], env)
        if text is None or not regex:
            return []
        pattern = _single(regex)
        if not isinstance(pattern, str):
            raise Unsupported("matches argument")
        compiled = cache.get(pattern) or cache.setdefault(pattern, re.compile(pattern, re.DOTALL))
        return [compiled.search(text) is not None]

    return matches


def _trace(args: list[Fn]) -> Fn:
    """trace(name[, projection]): the focus, unchanged."""
    if not 1 <= len(args) <= 2:
        raise Unsupported("trace")
    return lambda focus, env: focus


def _first_fn(args: list[Fn]) -> Fn:
    """first()."""
    _no_args(args, "first")
    return lambda focus, env: focus[:1]


_FUNCTIONS: dict[str, Callable[[list[Fn]], Fn]] = {
    "exists": _exists,
    "empty": _empty,
    "not": _not,
    "count": _count,
    "hasValue": _has_value,
    "where": _where,
    "all": _all,
    "startsWith": _starts_with,
    "length": _length,
    "toString": _to_string,
    "matches": _matches,
    "first": _first_fn,
    "trace": _trace,
}

_SYSTEM_TYPES = frozenset({"String", "Integer", "Boolean", "Decimal", "DateTime", "Date", "Time"})


def _of_type_suffix(type_name: str) -> str | None:
    """The JSON key suffix of a FHIR type in a choice element (`integer` -> `Integer`)."""
    if type_name in _SYSTEM_TYPES:
        return None  # System types: fhirpathpy's rules for FHIR primitives differ
    suffix = type_name[:1].upper() + type_name[1:]
    return suffix if suffix in CHOICE_SUFFIXES else None


_COMPILERS: dict[str, Callable[[dict[str, Any]], Fn]] = {
    "TermExpression": _term,
    "InvocationTerm": _term,
    "InvocationExpression": _invocation,
    "MemberInvocation": _member,
    "FunctionInvocation": _function_term,
    "ThisInvocation": _this,
    "ExternalConstantTerm": _constant,
    "LiteralTerm": _literal,
    "ParenthesizedTerm": _parenthesized,
    "AndExpression": _boolean,
    "OrExpression": _boolean,
    "ImpliesExpression": _boolean,
    "EqualityExpression": _equality,
    "InequalityExpression": _inequality,
    "AdditiveExpression": _arithmetic,
    "MultiplicativeExpression": _arithmetic,
    "PolarityExpression": _polarity,
    "MembershipExpression": _membership,
    "UnionExpression": _union,
}


# --------------------------------------------------------------------------- hand-written
#
# The invariants every resource and reference has, so that no validation has to parse them
# (parsing with fhirpathpy's ANTLR grammar costs milliseconds). Each one gives up (Unsupported)
# wherever its data is unusual; tests compare them with fhirpathpy.


def _contained(env: Env, focus: list[Any]) -> list[Any]:
    """The contained resources of the focus resource."""
    if len(focus) != 1 or not isinstance(focus[0], dict):
        raise Unsupported("focus")
    found = focus[0].get("contained")
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        raise Unsupported("contained")
    return found


def _none_has(focus: list[Any], *path: str) -> list[Any]:
    """`contained.a.b.empty()`: no contained resource has a value at the path."""
    for item in _contained((None, None, None), focus):
        value: Any = item
        for step in path:
            if not isinstance(value, dict):
                raise Unsupported("shape")
            if "_" + step in value:
                raise Unsupported("primitive extension companion")
            value = value.get(step)
        if value not in (None, []):
            return [False]
    return [True]


def _dom_3(focus: list[Any], env: Env) -> list[Any]:
    """dom-3 when there is nothing contained (otherwise fhirpathpy decides)."""
    if _contained(env, focus):
        raise Unsupported("dom-3 with contained resources")
    return [True]


def _dom_6(focus: list[Any], env: Env) -> list[Any]:
    """dom-6: the resource has a narrative div."""
    if len(focus) != 1 or not isinstance(focus[0], dict):
        raise Unsupported("focus")
    text = focus[0].get("text")
    if text is None:
        return [False]
    if not isinstance(text, dict) or "_div" in text:
        raise Unsupported("text")
    return [text.get("div") is not None]


def _ref_1(focus: list[Any], env: Env) -> list[Any]:
    """ref-1 (with the Java validator's fix): a local reference points at a contained id."""
    if len(focus) != 1 or not isinstance(focus[0], dict) or "_reference" in focus[0]:
        raise Unsupported("focus")
    reference = focus[0].get("reference")
    if reference is None:
        return [True]
    if not isinstance(reference, str):
        raise Unsupported("reference")
    if reference == "#" or not reference.startswith("#"):
        return [True]
    root = env[1]
    contained = root.get("contained") if isinstance(root, dict) else None
    if contained is None:
        return [False]
    if not isinstance(contained, list) or not all(isinstance(c, dict) for c in contained):
        raise Unsupported("contained")
    ids = [c.get("id") for c in contained]
    if not all(isinstance(i, str) for i in ids) or len(reference) < 2:
        raise Unsupported("ids")
    return [reference[1:] in ids]


_DOM_3 = (
    "contained.where((('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()"
)
_REF_1 = (
    "reference.exists() implies (reference = '#' or (reference.startsWith('#').not() or "
    "(reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))))"
)
HAND_WRITTEN: dict[str, Fn] = {
    "contained.contained.empty()": lambda focus, env: _none_has(focus, "contained"),
    "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()": (
        lambda focus, env: [
            _none_has(focus, "meta", "versionId") == [True]
            and _none_has(focus, "meta", "lastUpdated") == [True]
        ]
    ),
    "contained.meta.security.empty()": lambda focus, env: _none_has(focus, "meta", "security"),
    "text.`div`.exists()": _dom_6,
    _DOM_3: _dom_3,
    _REF_1: _ref_1,
}
