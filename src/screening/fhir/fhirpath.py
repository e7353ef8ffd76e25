"""FHIR invariants (ElementDefinition.constraint) evaluated with fhirpathpy and its R4 model.

`evaluate()` runs one FHIRPath expression at one node of a resource; `InvariantRunner.check()`
turns one constraint at one node into an `Issue` (or None when it holds).

What this module adds to fhirpathpy 2.x (read from its source):

* a strict parser: fhirpathpy's `parse()` ignores syntax errors and trailing text, so an
  expression is parsed here with the `entireExpression` rule and an error listener that raises;
  function names are checked against the invocation table at compile time.
* functions the R4 core invariants use that fhirpathpy lacks: `hasValue()`, `resolve()`,
  `htmlChecks()`; `memberOf()` and `conformsTo()` answer empty (unknown).
* replacements: `is`/`as`/`ofType` (fhirpathpy reads the model from a global that only `is`/`as`
  set, its `as` raises on collections, and FHIR primitives never match System types, so
  `answer is Boolean` is false for `answerBoolean`), and `<`, `<=`, `>`, `>=` for dates, times
  and quantities (fhirpathpy compares FHIR date/dateTime values as plain strings, ignoring
  precision and time zones, and cannot compare Quantity objects at all).
* `trace()` goes to a no-op callback (fhirpathpy prints to stdout by default);
  `extension(url)` returns every match (fhirpathpy: the first per item, and a KeyError on an
  extension without url).
* speed: `children()`/`descendants()` without fhirpathpy's quadratic list building, and
  subexpressions that read only %variables (`%resource.descendants()...`) evaluated once per
  evaluation instead of once per item of an enclosing where()/all() (see `_memoize`).

The user functions are called with fhirpathpy's own (ctx, input, *args) convention, not through
its `process_user_invocation_table` wrapper, which hides the context and the node types.

%resource is the resource a node belongs to and %rootResource its container (for a contained
resource) or itself; a caller may also pass an enclosing Bundle as the root resource, and the
Bundle is then used for resolve() and the entry's resource becomes %rootResource.

fhirpathpy keeps evaluation state in module globals (`constants`, reset per evaluation, and
`TypeInfo.model`), and its ANTLR parser shares DFA caches, so compiling and evaluating are each
serialised with a lock. Primitive `_x` companions show up in fhirpathpy as extra collection
items (a dict with `extension`); the functions here ignore them, fhirpathpy's own may count them.
"""

from __future__ import annotations

import html.entities
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast
from xml.parsers import expat

from antlr4 import CommonTokenStream, InputStream  # type: ignore[attr-defined]
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy.engine import do_eval as _fp_do_eval
from fhirpathpy.engine.invocations import invocation_registry as _fp_registry
from fhirpathpy.engine.invocations.constants import constants as _fp_constants
from fhirpathpy.engine.invocations.navigation import create_reduce_children
from fhirpathpy.engine.nodes import FP_DateTime, FP_Quantity, FP_Time, ResourceNode, TypeInfo
from fhirpathpy.models import models as _fp_models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from screening.fhir.outcome import Issue
from screening.fhir.packages import Registry

Json = Any
Node = dict[str, Any]  # fhirpathpy's AST node

R4_MODEL: dict[str, Any] = _fp_models["r4"]
UCUM = "http://unitsofmeasure.org"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
XHTML_NS = "http://www.w3.org/1999/xhtml"
BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"

SKIPPED_KEYS = frozenset({"ele-1", "ext-1"})  # checked natively by the structural layer

_do_eval = cast(Callable[[dict[str, Any], list[Any], Node], list[Any]], _fp_do_eval)
_new_node = cast(Callable[..., ResourceNode], ResourceNode)
_FP_REGISTRY = cast(dict[str, dict[str, Any]], _fp_registry)
_reset_constants = cast(Callable[[], None], _fp_constants.reset)
_ast_listener = cast(Callable[[], Any], ASTPathListener)
_child_step = cast(
    Callable[[dict[str, Any], bool], Callable[[list[Any], Any], list[Any]]], create_reduce_children
)
_COMPILE_LOCK = threading.Lock()
_EVAL_LOCK = threading.Lock()


class FhirPathSyntaxError(ValueError):
    """An expression fhirpathpy cannot run: malformed, or calling an unknown function."""


# --------------------------------------------------------------------------- compiling


class _RaisingListener(ErrorListener):  # type: ignore[misc]
    """ANTLR error listener that turns the first syntax error into an exception."""

    def syntaxError(
        self, recognizer: Any, symbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        """Raise instead of recovering."""
        raise FhirPathSyntaxError(f"column {column + 1}: {msg}")


def _parse(expression: str) -> Node:
    """fhirpathpy's AST of a whole expression, raising on any syntax error."""
    listener = _RaisingListener()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser: Any = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    ast = _ast_listener()
    ParseTreeWalker().walk(ast, parser.entireExpression())
    entire: Node = ast.parentStack[0]["children"][0]
    return cast(Node, entire["children"][0])


def function_names(tree: Node) -> set[str]:
    """Names of the functions an AST calls."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("type") == "FunctionInvocation":
            names.add(node["children"][0]["children"][0]["text"])
        stack.extend(node.get("children", []))
    return names


_compiled: dict[str, Node | FhirPathSyntaxError] = {}


def compile_expression(expression: str) -> Node:
    """The AST of an expression, parsed once per process; raises FhirPathSyntaxError."""
    found = _compiled.get(expression)
    if found is None:
        with _COMPILE_LOCK:
            found = _compiled.get(expression)
            if found is None:
                found = _compile(expression)
                _compiled[expression] = found
    if isinstance(found, FhirPathSyntaxError):
        raise found
    return found


def _compile(expression: str) -> Node | FhirPathSyntaxError:
    """Parse and check one expression, returning the error rather than raising it."""
    try:
        tree = _parse(expression)
    except FhirPathSyntaxError as error:
        return error
    except Exception as error:  # the ANTLR lexer raises its own errors
        return FhirPathSyntaxError(str(error) or type(error).__name__)
    unknown = sorted(function_names(tree) - _FP_REGISTRY.keys() - FUNCTIONS.keys())
    if unknown:
        return FhirPathSyntaxError(f"unsupported function {', '.join(unknown)}()")
    _memoize(tree, inside=False)
    return tree


# --------------------------------------------------------------------------- memoizing
#
# A subexpression that reads nothing but %variables and literals (`%resource.descendants()
# .reference`) has one value per evaluation. Inside an iteration (where, all, select, ...)
# fhirpathpy would recompute it for every item, so such subtrees are wrapped at compile time
# in a call to `_memo`, which evaluates them once per evaluation (dom-3 is O(n^2) otherwise).

_MEMO = "_memo"
_WORTH_MEMO = frozenset({"InvocationExpression", "UnionExpression", "IndexerExpression"})
_FREE_PARAMS = frozenset({"Expr", "TypeSpecifier", "Identifier"})
_memo_keys = iter(range(1 << 62))


def _param_kinds(call: Node) -> list[Any] | None:
    """The declared kind of each argument of a FunctionInvocation node (None: unknown)."""
    functn = call["children"][0]
    spec = {**_FP_REGISTRY, **FUNCTIONS}.get(functn["children"][0]["text"])
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    if spec is None:
        return None
    if "variadic" in spec:
        return [spec["variadic"]] * len(params)
    kinds = spec.get("arity", {0: []}).get(len(params))
    return list(kinds) if kinds is not None else None


def _params(call: Node) -> list[Node]:
    """The argument nodes of a FunctionInvocation node."""
    functn = call["children"][0]
    return list(functn["children"][1]["children"]) if len(functn["children"]) > 1 else []


def _closed(node: Node) -> bool:
    """True when a subtree's value depends only on %variables and literals, not the focus."""
    kind = node.get("type")
    children: list[Node] = node.get("children", [])
    if kind in ("LiteralTerm", "ExternalConstantTerm", "TypeSpecifier"):
        return True
    if kind in ("TermExpression", "ParenthesizedTerm"):
        return bool(children) and _closed(children[0])
    if kind == "InvocationExpression":
        return _closed(children[0]) and all(_step_closed(step) for step in children[1:])
    if kind in ("FunctionInvocation", "MemberInvocation", "InvocationTerm", None):
        return False
    if kind.endswith("Expression") and kind != "TermExpression":
        return bool(children) and all(_closed(child) for child in children)
    return False


def _step_closed(step: Node) -> bool:
    """True when one `.member` / `.function(...)` step adds no dependency on the focus."""
    if step.get("type") == "MemberInvocation":
        return True
    if step.get("type") != "FunctionInvocation":
        return False
    kinds = _param_kinds(step)
    if kinds is None:
        return False
    return all(k in _FREE_PARAMS or _closed(p) for k, p in zip(kinds, _params(step), strict=True))


def _memoize(node: Node, *, inside: bool) -> None:
    """Wrap closed subtrees found inside iteration arguments in `_memo(key, subtree)`."""
    if node.get("type") == "FunctionInvocation":
        kinds = _param_kinds(node) or []
        params = node["children"][0]["children"][1]["children"] if kinds else []
        for index, (kind, param) in enumerate(zip(kinds, params, strict=True)):
            iterated = inside or kind == "Expr"
            if iterated and param.get("type") in _WORTH_MEMO and _closed(param):
                params[index] = _memo_node(param)
            else:
                _memoize(param, inside=iterated)
        return
    children: list[Node] = node.get("children", [])
    for index, child in enumerate(children):
        if inside and child.get("type") in _WORTH_MEMO and _closed(child):
            children[index] = _memo_node(child)
        else:
            _memoize(child, inside=inside)


def _memo_node(subtree: Node) -> Node:
    """fhirpathpy AST for `_memo(<key>, <subtree>)`."""
    key = {"type": "TermExpression", "terminalNodeText": [], "text": f"m{next(_memo_keys)}"}
    name = {"type": "Identifier", "terminalNodeText": [_MEMO], "text": _MEMO}
    params = {"type": "ParamList", "terminalNodeText": [","], "children": [key, subtree]}
    functn = {"type": "Functn", "terminalNodeText": ["(", ")"], "children": [name, params]}
    call = {"type": "FunctionInvocation", "terminalNodeText": [], "children": [functn]}
    term = {"type": "InvocationTerm", "terminalNodeText": [], "children": [call]}
    return {"type": "TermExpression", "terminalNodeText": [], "text": "", "children": [term]}


def _memo(ctx: dict[str, Any], data: list[Any], key: str, expr: Callable[..., Any]) -> list[Any]:
    """Evaluate a closed subtree once per evaluation."""
    memo: dict[str, list[Any]] = ctx.setdefault("memo", {})
    if key not in memo:
        memo[key] = list(expr(data))
    return list(memo[key])


# --------------------------------------------------------------------------- evaluating


def evaluate(
    expression: str,
    node: Any,
    *,
    resource: Json,
    root_resource: Json,
    context_path: str | None = None,
    bundle: Json | None = None,
) -> list[Any]:
    """Evaluate `expression` at `node` (JSON), returning plain values (companions dropped).

    `context_path` is the node's type or element path (`Period`, `Observation.component`);
    `bundle` is the Bundle the resource is an entry of, for `resolve()`. Raises
    FhirPathSyntaxError for a bad expression and whatever fhirpathpy raises on evaluation.
    """
    result = evaluate_nodes(
        compile_expression(expression),
        node,
        resource=resource,
        root_resource=root_resource,
        context_path=context_path,
        bundle=bundle,
    )
    return [_data(item) for item in _values(result)]


def evaluate_nodes(
    tree: Node,
    node: Any,
    *,
    resource: Json,
    root_resource: Json,
    context_path: str | None = None,
    bundle: Json | None = None,
) -> list[Any]:
    """Run a compiled expression; the result keeps fhirpathpy's ResourceNode wrappers."""
    resource, root_resource, bundle = _scope(resource, root_resource, bundle)
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    path = type_path(context_path, resource_type) if context_path else None
    focus = node if isinstance(node, ResourceNode) else _new_node(node, path)
    data_root = [focus]
    ctx: dict[str, Any] = {
        "dataRoot": data_root,
        "vars": {
            "resource": _new_node(resource, None),
            "rootResource": _new_node(root_resource, None),
            "context": focus,
            "ucum": UCUM,
            "sct": SCT,
            "loinc": LOINC,
        },
        "model": R4_MODEL,
        "userInvocationTable": FUNCTIONS,
        "traceFn": _no_trace,
        "bundle": bundle,
        "root": root_resource,
    }
    with _EVAL_LOCK:
        _reset_constants()
        cast(Any, TypeInfo).model = R4_MODEL  # what fhirpathpy's `is`/`as` set each time
        return _do_eval(ctx, data_root, tree)


def _no_trace(label: str, value: Any) -> None:
    """trace() callback: discard."""


def _scope(resource: Json, root: Json, bundle: Json | None) -> tuple[Json, Json, Json | None]:
    """(%resource, %rootResource, Bundle) per FHIR, also when `root` is an enclosing Bundle.

    Callers may pass the outermost resource as the root; for a resource inside a Bundle entry
    the entry's resource is the real %rootResource, and the Bundle serves resolve().
    """
    if bundle is not None or root is resource or not _is_bundle(root):
        return resource, root, bundle
    for entry in _list(root.get("entry")):
        held = entry.get("resource") if isinstance(entry, dict) else None
        if held is resource or (
            isinstance(held, dict) and any(c is resource for c in _list(held.get("contained")))
        ):
            return resource, held, root
    return resource, root, bundle


def _is_bundle(value: Any) -> bool:
    """True for a Bundle resource."""
    return isinstance(value, dict) and value.get("resourceType") == "Bundle"


def type_path(location: str, resource_type: str | None = None) -> str:
    """The R4 model path of the node at a FHIRPath location (`Observation.component`, `Period`).

    Indices are dropped, `.ofType(X)` restarts at X, and every element whose type is a
    datatype or primitive becomes that type (`Observation.valueQuantity` -> `Quantity`). A step
    into a Resource-typed element (`contained`, `Bundle.entry.resource`) continues as
    `resource_type`, the type of the resource the node belongs to.
    """
    return _type_path(_INDEX.sub("", location), resource_type)


_INDEX = re.compile(r"\[\d+\]")
_PATH_TYPES: dict[str, str] = R4_MODEL["path2Type"]
_KNOWN_PATHS = frozenset(_PATH_TYPES) | {path.rsplit(".", 1)[0] for path in _PATH_TYPES}
_RESOURCE_STEPS = frozenset({"contained", "resource", "outcome"})


@lru_cache(maxsize=4096)
def _type_path(text: str, resource_type: str | None) -> str:
    """type_path() of a location without indices."""
    head, _, tail = text.rpartition(".ofType(")
    if head:
        type_name, _, text = tail.partition(")")
        text = type_name + text
    segments = text.split(".")
    current = segments[0]
    for segment in segments[1:]:
        candidate = f"{current}.{segment}"
        candidate = R4_MODEL["pathsDefinedElsewhere"].get(candidate, candidate)
        current = _PATH_TYPES.get(candidate, candidate)
        unknown = current not in _KNOWN_PATHS and "." in current
        if resource_type and (current == "Resource" or (unknown and segment in _RESOURCE_STEPS)):
            current = resource_type  # (unknown: an outer resource of another type was assumed)
    return current


def _data(item: Any) -> Any:
    """The plain value of a fhirpathpy item."""
    return item.data if isinstance(item, ResourceNode) else item


def _is_companion(item: Any) -> bool:
    """True for the `_x` object fhirpathpy adds next to (or instead of) a primitive value."""
    if not isinstance(item, ResourceNode) or not isinstance(item.data, dict):
        return False
    path = item.path or ""
    return path.startswith("System.") or (path[:1].islower() and "." not in path)


def _values(coll: Iterable[Any]) -> list[Any]:
    """A collection without primitive-extension companions."""
    return [item for item in coll if not _is_companion(item)]


# --------------------------------------------------------------------------- hasValue, resolve


def _has_value(ctx: dict[str, Any], coll: list[Any]) -> bool:
    """hasValue(): the single input item is a primitive with a value."""
    values = _values(coll)
    if len(values) != 1:
        return False
    data = _data(values[0])
    return data is not None and not isinstance(data, dict | list)


def _resolve(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    """resolve(): contained (`#id`) and same-Bundle targets of references; others are empty."""
    out: list[Any] = []
    for item in _values(coll):
        data = _data(item)
        reference = data.get("reference") if isinstance(data, dict) else data
        if isinstance(reference, str) and reference:
            target = resolve_reference(reference, ctx["root"], ctx["bundle"])
            if target is not None:
                out.append(_new_node(target, None))
    return out


def resolve_reference(reference: str, root: Json, bundle: Json | None) -> Json | None:
    """The resource a reference points to: in `root`'s contained list or in `bundle`."""
    if reference.startswith("#"):
        return _contained(reference[1:], root)
    if isinstance(bundle, dict):
        return _bundle_target(reference, root, bundle)
    return None


def _contained(local_id: str, root: Json) -> Json | None:
    """`#` is the container itself; `#id` a contained resource of it."""
    if not isinstance(root, dict):
        return None
    if not local_id:
        return root
    for item in _list(root.get("contained")):
        if isinstance(item, dict) and item.get("id") == local_id:
            return item
    return None


_RESTFUL = re.compile(r"^(.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$")


def _bundle_target(reference: str, root: Json, bundle: Json) -> Json | None:
    """An entry's resource by fullUrl (absolute, or relative to the referring entry's base).

    A relative `Type/id` that matches no fullUrl falls back to the entry with that type and
    id; a canonical (`url|version`) falls back to the entry whose `url` it names.
    """
    reference = reference.split("/_history/", 1)[0]
    entries = [e for e in _list(bundle.get("entry")) if isinstance(e, dict)]
    resources = [e["resource"] for e in entries if isinstance(e.get("resource"), dict)]
    wanted = {reference}
    match = _RESTFUL.match(reference)
    relative = match is not None and not match.group(1)
    base = _entry_base(entries, root) if relative else None
    if base:
        wanted.add(base + reference)
    for entry in entries:
        if entry.get("fullUrl") in wanted and isinstance(entry.get("resource"), dict):
            return cast(Json, entry["resource"])
    if match is not None and relative:
        key = (match.group(2), match.group(3))
        return next((r for r in resources if (r.get("resourceType"), r.get("id")) == key), None)
    canonical = reference.split("|", 1)[0]
    return next((r for r in resources if r.get("url") == canonical), None)


def _entry_base(entries: list[Json], root: Json) -> str | None:
    """The RESTful base (`http://x/fhir/`) of the fullUrl of the entry holding `root`."""
    for entry in entries:
        if entry.get("resource") is root:
            match = _RESTFUL.match(str(entry.get("fullUrl", "")))
            return match.group(1) if match else None
    return None


def _list(value: Any) -> list[Any]:
    """A JSON array as a list (anything else as empty)."""
    return value if isinstance(value, list) else []


def _children(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    """children(): fhirpathpy's own step, without its quadratic list concatenation."""
    step = _child_step(ctx, True)
    out: list[Any] = []
    for item in coll:
        out.extend(step([], item))
    return out


def _descendants(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    """descendants(): linear, and computed once per input within one evaluation.

    dom-3 asks for `%resource.descendants()` four times per contained resource; the memo keeps
    the input items alive so their ids cannot be reused while the evaluation runs.
    """
    memo: dict[tuple[int, ...], tuple[list[Any], list[Any]]] = ctx.setdefault("descendants", {})
    key = tuple(id(item) for item in coll)
    hit = memo.get(key)
    if hit is None:
        step = _child_step(ctx, False)
        out: list[Any] = []
        level = coll
        while level:
            level = [child for item in level for child in step([], item)]
            out.extend(level)
        hit = memo[key] = (list(coll), out)
    return list(hit[1])


def _extension(ctx: dict[str, Any], coll: list[Any], url: str) -> list[Any]:
    """extension(url): every matching extension (fhirpathpy keeps only the first per item)."""
    out: list[Any] = []
    for item in coll:
        data = _data(item)
        if isinstance(data, dict):
            for ext in _list(data.get("extension")):
                if isinstance(ext, dict) and ext.get("url") == url:
                    out.append(_new_node(ext, "Extension"))
    return out


def _unknown(ctx: dict[str, Any], coll: list[Any], *args: Any) -> list[Any]:
    """memberOf() / conformsTo(): not decidable here, so empty (an invariant then holds)."""
    return []


# --------------------------------------------------------------------------- htmlChecks


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of a text."""
    return frozenset(text.split())


_ELEMENTS = _words(
    "a abbr acronym address area b bdo big blockquote br caption cite code col colgroup dd dfn "
    "div dl dt em h1 h2 h3 h4 h5 h6 hr i img kbd li map ol p pre q samp small span strong sub "
    "sup table tbody td tfoot th thead tr tt ul var"
)
_ATTRIBUTES = _words(
    "title style class id lang dir accesskey tabindex span width align valign char charoff "
    "abbr axis headers scope rowspan colspan"
)
_ELEMENT_ATTRIBUTES = _words(
    "a.href a.name a.title a.type a.hreflang img.src img.border img.alt img.height img.width "
    "blockquote.cite q.cite table.summary table.width table.border table.frame table.rules "
    "table.cellspacing table.cellpadding pre.space td.nowrap area.href area.alt area.shape "
    "area.coords map.name"
)
_XML_LANG = "http://www.w3.org/XML/1998/namespace lang"
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})


def _html_checks(ctx: dict[str, Any], coll: list[Any]) -> list[bool]:
    """htmlChecks(): the R4 narrative rules (txt-1 and txt-2) on the single input string."""
    values = _values(coll)
    if not values:
        return []
    data = _data(values[0])
    if len(values) != 1 or not isinstance(data, str):
        return [False]
    problems, has_content = scan_narrative(data)
    return [not problems and bool(has_content)]


def scan_narrative(xhtml: str) -> tuple[list[str], bool | None]:
    """txt-1 problems of a narrative div, and whether it has content (None: unreadable)."""
    scan = _XhtmlScan()
    try:
        scan.run(_named_entities_to_numeric(xhtml))
    except _Reject as reason:
        return [str(reason)], None
    except expat.ExpatError as error:
        return [f"not well-formed XHTML: {expat.ErrorString(error.code)}"], None
    return scan.problems, scan.has_content


def _named_entities_to_numeric(text: str) -> str:
    """HTML named entities (`&nbsp;`) as numeric references XML accepts."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        code = html.entities.name2codepoint.get(name)
        return match.group(0) if name in _XML_ENTITIES or code is None else f"&#{code};"

    return _ENTITY.sub(swap, text)


class _Reject(Exception):
    """Parsing stopped: the document is not acceptable at all."""


class _XhtmlScan:
    """One pass of expat over a narrative, collecting rule violations."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.has_content = False
        self.depth = 0

    def run(self, text: str) -> None:
        """Parse the whole document (DTDs and entity declarations are refused)."""
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._doctype
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.Parse(text, True)

    def _doctype(self, *args: Any) -> None:
        """Refuse a DOCTYPE or entity declaration."""
        raise _Reject("a narrative must not have a DOCTYPE or entity declarations")

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        """Check one element and its attributes."""
        namespace, _, local = name.rpartition(" ")
        if self.depth == 0 and (namespace, local) != (XHTML_NS, "div"):
            raise _Reject("the narrative root must be an XHTML <div>")
        self.depth += 1
        if namespace != XHTML_NS:
            self.problems.append(f"element <{local}> is not in the XHTML namespace")
        elif local not in _ELEMENTS:
            self.problems.append(f"element <{local}> is not allowed in a narrative")
        for attribute, value in attributes.items():
            self._attribute(local, attribute, value)
        if local == "img":
            self.has_content = True

    def _attribute(self, element: str, attribute: str, value: str) -> None:
        """Check one attribute of an element."""
        if attribute == _XML_LANG:
            return
        if " " in attribute or not (
            attribute in _ATTRIBUTES or f"{element}.{attribute}" in _ELEMENT_ATTRIBUTES
        ):
            shown = attribute.rpartition(" ")[2]
            self.problems.append(f"attribute '{shown}' is not allowed on <{element}>")
        elif attribute in ("href", "src") and _is_script_url(value):
            self.problems.append(f"<{element} {attribute}> must not be a javascript: URL")

    def _end(self, name: str) -> None:
        """Leave an element."""
        self.depth -= 1

    def _text(self, data: str) -> None:
        """Note non-whitespace text."""
        if not self.has_content and data.strip():
            self.has_content = True


def _is_script_url(value: str) -> bool:
    """True for `javascript:` (and `vbscript:`) URLs, however spaced or cased."""
    compact = re.sub(r"[\s\x00-\x1f]", "", value).lower()
    return compact.startswith(("javascript:", "vbscript:"))


# --------------------------------------------------------------------------- types

_SYSTEM_OF_FHIR = {
    "boolean": "Boolean",
    "string": "String",
    "uri": "String",
    "integer": "Integer",
    "decimal": "Decimal",
    "date": "Date",
    "dateTime": "DateTime",
    "instant": "DateTime",
    "time": "Time",
    "Quantity": "Quantity",
}
_SYSTEM_OF_PYTHON: dict[type, str] = {
    bool: "Boolean",
    str: "String",
    int: "Integer",
    Decimal: "Decimal",
    float: "Decimal",
    FP_DateTime: "DateTime",
    FP_Time: "Time",
    FP_Quantity: "Quantity",
}


def _type_of(item: Any) -> tuple[str, str]:
    """(namespace, name) of a fhirpathpy item: FHIR types from node paths, else System."""
    if isinstance(item, ResourceNode):
        path = item.path or ""
        if path.startswith("System."):
            return "System", path[len("System.") :]
        if path:
            return "FHIR", "BackboneElement" if "." in path else path
        item = item.data
    if isinstance(item, dict) and isinstance(item.get("resourceType"), str):
        return "FHIR", item["resourceType"]
    return "System", _SYSTEM_OF_PYTHON.get(type(item), "Any")


@lru_cache(maxsize=1024)
def _ancestors(name: str) -> tuple[str, ...]:
    """A FHIR type and the types it specialises, nearest first."""
    chain = [name]
    parent = R4_MODEL["type2Parent"].get(name)
    while parent and parent not in chain:
        chain.append(parent)
        parent = R4_MODEL["type2Parent"].get(parent)
    return tuple(chain)


def type_matches(item: Any, spec: TypeInfo) -> bool:
    """`item is spec`, FHIR primitives also matching their System type (boolean ~ Boolean)."""
    namespace, name = _type_of(item)
    wanted, wanted_ns = spec.name, spec.namespace
    if namespace == "FHIR":
        chain = _ancestors(name)
        if wanted_ns != "System" and wanted in chain:
            return True
        return wanted_ns != "FHIR" and any(_SYSTEM_OF_FHIR.get(t) == wanted for t in chain)
    if wanted_ns == "FHIR":
        return False
    return name == wanted or _SYSTEM_OF_FHIR.get(wanted) == name


def _is(ctx: dict[str, Any], coll: list[Any], spec: TypeInfo) -> list[bool]:
    """`is` / is(): empty for empty input; the single item's type test."""
    values = _values(coll)
    if not values:
        return []
    if len(values) > 1:
        raise ValueError("'is' needs a single item on its left")
    return [type_matches(values[0], spec)]


def _as(ctx: dict[str, Any], coll: list[Any], spec: TypeInfo) -> list[Any]:
    """`as` / as() / ofType(): the items of the type (a filter, as in the HL7 validator)."""
    return [item for item in _values(coll) if type_matches(item, spec)]


# --------------------------------------------------------------------------- comparisons

_MOMENT = re.compile(
    r"^@?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2}(?:\.\d+)?))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_DATE_TYPES = frozenset({"date", "dateTime", "instant"})
_UNSUPPORTED = object()
Moment = tuple[tuple[Decimal, ...], int | None]


def _moment_text(item: Any) -> str | None:
    """The date/dateTime text of a FHIR date-typed node or a FHIRPath DateTime value."""
    if isinstance(item, ResourceNode):
        if item.path in _DATE_TYPES and isinstance(item.data, str):
            return item.data
        item = item.data
    if isinstance(item, FP_DateTime):
        return str(item.asStr)
    return None


def parse_moment(text: str) -> Moment | None:
    """Date/time parts (year .. seconds) and the zone offset in minutes, or None."""
    match = _MOMENT.match(text)
    if match is None:
        return None
    parts = tuple(Decimal(g) for g in match.groups()[:6] if g is not None)
    zone = match.group(7)
    if zone is None or len(parts) < 4:
        return parts, None
    offset = 0 if zone == "Z" else int(zone[1:3]) * 60 + int(zone[4:6])
    return parts, -offset if zone.startswith("-") else offset


def _to_utc(moment: Moment) -> tuple[Decimal, ...]:
    """The parts of a zoned date-time moved to UTC, keeping its precision."""
    parts, offset = moment
    if offset is None:
        return parts
    full = list(parts) + [Decimal(0)] * (6 - len(parts))
    seconds = full[5]
    year, month, day, hour, minute = (int(p) for p in full[:5])
    whole = datetime(year, month, day, hour, minute, int(seconds))
    utc = whole - timedelta(minutes=offset)
    moved = (utc.year, utc.month, utc.day, utc.hour, utc.minute)
    result = [Decimal(v) for v in moved] + [Decimal(utc.second) + seconds % 1]
    return tuple(result[: len(parts)])


def compare_moments(left: Moment, right: Moment) -> int | None:
    """FHIRPath ordering of two dates/dateTimes: -1, 0, 1, or None if precision decides."""
    if left[1] is not None and right[1] is not None:
        a, b = _to_utc(left), _to_utc(right)
    else:
        a, b = left[0], right[0]
    for x, y in zip(a, b, strict=False):
        if x != y:
            return -1 if x < y else 1
    return 0 if len(a) == len(b) else None


def _quantity(item: Any) -> tuple[Decimal, tuple[str, str]] | None:
    """(value, unit key) of a Quantity node or FHIRPath quantity, or None."""
    data = _data(item)
    if isinstance(data, FP_Quantity):
        return Decimal(str(data.value)), ("", str(data.unit).strip("'"))
    if not isinstance(data, dict) or not isinstance(data.get("value"), int | float | Decimal):
        return None
    if isinstance(data["value"], bool):
        return None
    code = data.get("code")
    unit = ("system", f"{data.get('system')}|{code}") if code else ("", str(data.get("unit", "")))
    return Decimal(str(data["value"])), unit


def _order(left: Any, right: Any) -> Any:
    """-1/0/1, None (not comparable: empty result), or _UNSUPPORTED (use fhirpathpy's)."""
    left_text, right_text = _moment_text(left), _moment_text(right)
    if left_text is not None or right_text is not None:
        if left_text is None and isinstance(_data(left), str):
            left_text = _data(left)
        if right_text is None and isinstance(_data(right), str):
            right_text = _data(right)
        a = parse_moment(left_text) if left_text is not None else None
        b = parse_moment(right_text) if right_text is not None else None
        return compare_moments(a, b) if a is not None and b is not None else _UNSUPPORTED
    qa, qb = _quantity(left), _quantity(right)
    if qa is not None and qb is not None:
        if qa[1] != qb[1]:
            return None  # no UCUM conversion here: unknown
        return (qa[0] > qb[0]) - (qa[0] < qb[0])
    return _UNSUPPORTED


def _comparison(symbol: str, test: Callable[[int], bool]) -> Callable[..., Any]:
    """An inequality operator: dates and quantities here, anything else by fhirpathpy."""
    fallback = cast(Callable[..., Any], _FP_REGISTRY[symbol]["fn"])

    def compare(ctx: dict[str, Any], left: list[Any], right: list[Any]) -> Any:
        a, b = _values(left), _values(right)
        if not a or not b:
            return []
        if len(a) > 1 or len(b) > 1:
            raise ValueError(f"'{symbol}' needs single items on both sides")
        order = _order(a[0], b[0])
        if order is _UNSUPPORTED:
            return fallback(ctx, a, b)
        return [] if order is None else [test(order)]

    return compare


_TYPE_ARG = {1: ["TypeSpecifier"]}
_BINARY = {2: ["Any", "Any"]}
_TYPE_OP = {2: ["Any", "TypeSpecifier"]}

FUNCTIONS: dict[str, dict[str, Any]] = {
    "hasValue": {"fn": _has_value},
    "resolve": {"fn": _resolve},
    "htmlChecks": {"fn": _html_checks},
    _MEMO: {"fn": _memo, "arity": {2: ["Identifier", "Expr"]}},
    "children": {"fn": _children},
    "descendants": {"fn": _descendants},
    "extension": {"fn": _extension, "arity": {1: ["String"]}},
    "memberOf": {"fn": _unknown, "arity": {1: ["String"]}},
    "conformsTo": {"fn": _unknown, "arity": {1: ["String"]}},
    "is": {"fn": _is, "arity": _TYPE_ARG},
    "as": {"fn": _as, "arity": _TYPE_ARG},
    "ofType": {"fn": _as, "arity": _TYPE_ARG},
    "isOp": {"fn": _is, "arity": _TYPE_OP},
    "asOp": {"fn": _as, "arity": _TYPE_OP},
    "<": {"fn": _comparison("<", lambda o: o < 0), "arity": _BINARY},
    "<=": {"fn": _comparison("<=", lambda o: o <= 0), "arity": _BINARY},
    ">": {"fn": _comparison(">", lambda o: o > 0), "arity": _BINARY},
    ">=": {"fn": _comparison(">=", lambda o: o >= 0), "arity": _BINARY},
}


# --------------------------------------------------------------------------- invariants


def should_skip(key: str) -> bool:
    """True for invariants the structural layer checks natively (ele-1, ext-1)."""
    return key in SKIPPED_KEYS


class InvariantRunner:
    """Checks ElementDefinition.constraint invariants at nodes of resources.

    * satisfied: the expression yields `true` or nothing (FHIR: empty means the rule holds);
    * failed (`false`): an issue with the constraint's severity (best-practice ones warn),
      code `invariant`, and the HL7 validator's "Constraint failed: ..." wording;
    * expression fhirpathpy cannot parse or run (unknown function): `information`, not checked;
    * evaluation raised, or the result is not one boolean: `warning`, code `exception` (the
      HL7 validator reports these as failures, but here they are far likelier fhirpathpy gaps
      than bad data, and a false error would block a valid write);
    * ele-1 and ext-1 are skipped (see `should_skip`); txt-1 and txt-2 run natively so each
      reports only its own rule (markup, emptiness) with the reason.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._sources: dict[str, str | None] | None = None
        self._lock = threading.Lock()

    should_skip = staticmethod(should_skip)

    def check(
        self,
        constraint: dict[str, Any],
        node: Any,
        location: str,
        *,
        resource: Json,
        root_resource: Json,
        context_path: str | None = None,
        bundle: Json | None = None,
        source: str | None = None,
    ) -> Issue | None:
        """The issue for one constraint at one node, or None when it holds or is skipped.

        `node` is the JSON value at `location`; `resource` the resource it belongs to and
        `root_resource` its container (or the enclosing Bundle, see `_scope`). Optional:
        `context_path` (the node's type, else derived from `location`), `bundle` (for
        resolve()), `source` (the defining StructureDefinition, for the message).
        """
        key = str(constraint.get("key", ""))
        expression = constraint.get("expression")
        if should_skip(key) or not isinstance(expression, str) or not expression.strip():
            return None
        if key in ("txt-1", "txt-2") and expression.strip() == "htmlChecks()":
            return self._narrative(constraint, node, location, source)
        try:
            tree = compile_expression(expression)
        except FhirPathSyntaxError as error:
            msg = f"Invariant {key} was not checked: its expression cannot be evaluated ({error})"
            return Issue("information", "informational", msg, location)
        scope = {"resource": resource, "root_resource": root_resource, "bundle": bundle}
        try:
            result = evaluate_nodes(tree, node, context_path=context_path or location, **scope)
        except Exception as error:  # fhirpathpy raises bare Exceptions (and worse) on data
            return self._problem(key, f"{type(error).__name__}: {error}", location)
        return self._verdict(constraint, result, location, source)

    def _verdict(
        self, constraint: dict[str, Any], result: list[Any], location: str, source: str | None
    ) -> Issue | None:
        """None when the result satisfies the constraint, else the issue to report."""
        values = [_data(item) for item in _values(result)]
        if len(values) > 1:
            msg = f"the expression returned {len(values)} items, not one boolean"
            return self._problem(str(constraint.get("key", "")), msg, location)
        if values and values[0] is False:
            return self.failure(constraint, location, source=source)
        return None

    def failure(
        self, constraint: dict[str, Any], location: str, *, source: str | None = None, why: str = ""
    ) -> Issue:
        """The issue for a failed constraint, worded like the HL7 validator's."""
        key = constraint.get("key", "")
        defined = constraint.get("source") or source or self._source_of(str(key))
        text = f"Constraint failed: {key}: '{constraint.get('human', '')}'"
        if defined:
            text += f" (defined in {defined})"
        if why:
            text += f": {why}"
        return Issue(_severity(constraint), "invariant", text, location)

    def _problem(self, key: str, reason: str, location: str) -> Issue:
        """The warning for an invariant that could not be evaluated."""
        msg = f"Problem evaluating invariant {key}; it was not checked: {reason}"
        return Issue("warning", "exception", msg[:500], location)

    def _narrative(
        self, constraint: dict[str, Any], node: Any, location: str, source: str | None
    ) -> Issue | None:
        """txt-1 (markup rules) or txt-2 (some content) on a Narrative.div string."""
        if not isinstance(node, str):
            return None
        problems, has_content = scan_narrative(node)
        if constraint["key"] == "txt-2":
            empty = has_content is False  # unreadable markup is txt-1's finding only
            problems = ["the narrative has no non-whitespace content"] if empty else []
        if not problems:
            return None
        return self.failure(constraint, location, source=source, why="; ".join(problems[:3]))

    def _source_of(self, key: str) -> str | None:
        """The one StructureDefinition that defines a constraint key without `source`."""
        sources = self._sources
        if sources is None:
            with self._lock:
                if self._sources is None:
                    self._sources = _constraint_sources(self.registry)
                sources = self._sources
        return sources.get(key)


def _constraint_sources(registry: Registry) -> dict[str, str | None]:
    """Key -> the URL of the StructureDefinition declaring it (None when ambiguous)."""
    found: dict[str, str | None] = {}
    for sd in registry.all_of("StructureDefinition"):
        url = sd.get("url")
        for element in sd.get("snapshot", {}).get("element", []):
            for constraint in element.get("constraint", []):
                key = constraint.get("key")
                if key and not constraint.get("source") and isinstance(url, str):
                    found[key] = url if found.get(key, url) == url else None
    return found


def _severity(constraint: dict[str, Any]) -> str:
    """error, or warning for warning-severity and best-practice constraints."""
    for extension in constraint.get("extension", []):
        if extension.get("url") == BEST_PRACTICE and extension.get("valueBoolean") is True:
            return "warning"
    return "warning" if constraint.get("severity") == "warning" else "error"


def core_constraints(registry: Registry) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(StructureDefinition URL, element path, constraint) for every snapshot constraint."""
    for sd in registry.all_of("StructureDefinition"):
        for element in sd.get("snapshot", {}).get("element", []):
            for constraint in element.get("constraint", []):
                yield str(sd.get("url", "")), str(element.get("path", "")), constraint
