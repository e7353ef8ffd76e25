"""Invariants (ElementDefinition.constraint) as the HL7 reference validator runs them.

Three differences from a plain FHIRPath run, all taken from the Java validator:

* some published R4 expressions are wrong, and the Java validator runs corrected ones
  (`JAVA_FIXES`, `_fixed`): que-12 counts from two enableWhen, ref-1 accepts `#`, eld-19 and
  eld-20 match whole paths, ...;
* the result is read as Java's `convertToBoolean`: `true` holds; `false`, and also an empty
  result, fail (so `start <= end` on dates of different precision fails per-1, as in Java).
  Only expressions that call functions this engine cannot decide (`memberOf`, `conformsTo`)
  keep "empty holds";
* best-practice constraints stay warnings (Java ignores them).

For speed each constraint is compiled once: the native evaluator (`validator_fhirpath`) runs
first, fhirpathpy only when the native one gives up; the result of an expression that reads
nothing but its focus is remembered by the focus' value.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from typing import Any

from screening.fhir.fhirpath import (
    FhirPathSyntaxError,
    InvariantRunner,
    compile_expression,
    evaluate_nodes,
)
from screening.fhir.outcome import Issue
from screening.fhir.validator_fhirpath import HAND_WRITTEN, Fn, Unsupported, compile_native

Json = Any
SKIPPED = frozenset({"ele-1", "ext-1"})  # checked natively by the structural layer
NARRATIVE = frozenset({"txt-1", "txt-2"})
UNDECIDED_FUNCTIONS = ("memberOf(", "conformsTo(")
MEMO_LIMIT = 8192

_REF_1 = (
    "reference.startsWith('#').not() or "
    "(reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))"
)
JAVA_FIXES = {
    "enableWhen.count() > 2 implies enableBehavior.exists()": (
        "enableWhen.count() >= 2 implies enableBehavior.exists()"
    ),
    _REF_1: f"reference.exists() implies (reference = '#' or ({_REF_1}))",
    "fullUrl.contains('/_history/').not()": (
        "fullUrl.exists() implies fullUrl.contains('/_history/').not()"
    ),
    "name.matches('[A-Z]([A-Za-z0-9_]){0,254}')": (
        "name.exists() implies name.matches('^[A-Z]([A-Za-z0-9_]){0,254}$')"
    ),
    "generated='generated' implies source.empty()": "generation='generated' implies source.empty()",
    "probability is decimal implies (probability as decimal) <= 100": (
        "(probability.exists() and (probability is decimal)) implies "
        "((probability as decimal) <= 100)"
    ),
    "(component.empty() and hasMember.empty()) implies (dataAbsentReason or value)": (
        "(component.empty() and hasMember.empty()) implies "
        "(dataAbsentReason.exists() or value.exists())"
    ),
    "isModifier implies isModifierReason.exists()": (
        "(isModifier.exists() and isModifier) implies isModifierReason.exists()"
    ),
    "differential.element.all(id) and differential.element.id.trace('ids').isDistinct()": (
        "differential.element.all(id.exists()) and "
        "differential.element.id.trace('ids').isDistinct()"
    ),
    "snapshot.element.all(id) and snapshot.element.id.trace('ids').isDistinct()": (
        "snapshot.element.all(id.exists()) and snapshot.element.id.trace('ids').isDistinct()"
    ),
}
_PATH_CHARS = "[^\\\\s\\\\.,:;\\\\\\'\"\\\\/|?!@#$%&*()\\\\[\\\\]{}]{1,64}"
KEY_FIXES = {
    "eld-19": (
        f"path.matches('^{_PATH_CHARS}(\\\\.{_PATH_CHARS}(\\\\[x\\\\])?(\\\\:[^\\\\s\\\\.]+)?)*$')"
    ),
    "eld-20": "path.matches('^[A-Za-z][A-Za-z0-9]*(\\\\.[a-z][A-Za-z0-9]*(\\\\[x])?)*$')",
}


def fixed_expression(key: str, expression: str) -> str:
    """The expression the Java validator runs for a published one."""
    if key in KEY_FIXES:
        return KEY_FIXES[key]
    return JAVA_FIXES.get(expression, expression)


@dataclass(eq=False, slots=True)
class Invariant:
    """One constraint, compiled: how to run it and how to read its result."""

    key: str
    constraint: dict[str, Any]
    expression: str
    native: Fn | None
    tree: dict[str, Any] | None
    problem: str | None  # why the expression cannot be run at all
    empty_holds: bool
    by_value: bool  # the result depends on the focus only
    narrative: bool
    ready: bool = False  # parsed (done on first need: parsing costs milliseconds)


@dataclass(frozen=True, slots=True)
class Where:
    """The resources an invariant is evaluated in: %resource, %rootResource, a Bundle."""

    resource: Json
    root: Json
    bundle: Json | None


class InvariantEngine:
    """Compiles and runs invariants; failures are worded by the FHIRPath InvariantRunner."""

    def __init__(self, runner: InvariantRunner) -> None:
        self.runner = runner
        self._compiled: dict[tuple[str, str], Invariant | None] = {}
        self._memo: dict[tuple[int, str], bool | str] = {}
        self._texts: dict[tuple[int, str], Issue | None] = {}
        self._lock = threading.Lock()

    def compile(self, constraint: dict[str, Any]) -> Invariant | None:
        """The compiled form of a constraint (None for ones never run here)."""
        key = str(constraint.get("key", ""))
        expression = constraint.get("expression")
        if key in SKIPPED or not isinstance(expression, str) or not expression.strip():
            return None
        cache_key = (key, expression)
        if cache_key not in self._compiled:
            with self._lock:
                self._compiled[cache_key] = _compile(key, expression, constraint)
        return self._compiled[cache_key]

    def prepare(self, inv: Invariant) -> Invariant:
        """Parse the expression (fhirpathpy's AST, and the native form if there is none)."""
        if inv.ready:
            return inv
        with self._lock:
            if not inv.ready and not inv.narrative:
                try:
                    inv.tree = compile_expression(inv.expression)
                except FhirPathSyntaxError as error:
                    inv.problem = str(error)
                if inv.native is None and inv.problem is None:
                    try:
                        inv.native = compile_native(inv.expression)
                    except Unsupported:
                        inv.native = None
            inv.ready = True
        return inv

    def check(self, inv: Invariant, node: Json, location: str, where: Where) -> Issue | None:
        """The issue when the invariant fails at `node`, else None."""
        if inv.native is None and not inv.ready:
            self.prepare(inv)
        if inv.narrative:
            return self._narrative(inv, node, location, where)
        if inv.problem is not None:
            msg = f"Invariant {inv.key} was not checked: its expression cannot be evaluated"
            return Issue("information", "informational", f"{msg} ({inv.problem})", location)
        outcome = self._outcome(inv, node, location, where)
        if outcome is True:
            return None
        if isinstance(outcome, str):
            text = f"Problem evaluating invariant {inv.key}; it was not checked: {outcome}"
            return Issue("warning", "exception", text[:500], location)
        return self.runner.failure(inv.constraint, location)

    def _outcome(self, inv: Invariant, node: Json, location: str, where: Where) -> bool | str:
        """True (holds), False (fails) or the reason it could not be evaluated."""
        memo_key: tuple[int, str] | None = None
        if inv.by_value and inv.native is None:
            memo_key = (id(inv), json.dumps(node, sort_keys=True, default=str))
            found = self._memo.get(memo_key)
            if found is not None:
                return found
        outcome = self._evaluate(inv, node, location, where)
        if memo_key is not None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = outcome
        return outcome

    def _evaluate(self, inv: Invariant, node: Json, location: str, where: Where) -> bool | str:
        """Run natively if possible, else with fhirpathpy; read the result as Java does."""
        if inv.native is not None:
            try:
                return _verdict(inv, inv.native([node], (where.resource, where.root, node)))
            except Unsupported:
                pass
            except (TypeError, ValueError, AttributeError) as error:  # unexpected data shapes
                return f"{type(error).__name__}: {error}"
        self.prepare(inv)
        if inv.tree is None:
            return f"the expression cannot be evaluated ({inv.problem})"
        try:
            result = evaluate_nodes(
                inv.tree,
                node,
                resource=where.resource,
                root_resource=where.root,
                context_path=location,
                bundle=where.bundle,
            )
        except Exception as error:  # fhirpathpy raises bare Exceptions (and worse) on data
            return f"{type(error).__name__}: {error}"
        return _verdict(inv, [_plain(item) for item in result])

    def _narrative(self, inv: Invariant, node: Json, location: str, where: Where) -> Issue | None:
        """txt-1 / txt-2 through the runner's narrative scan, remembered per div text."""
        if not isinstance(node, str):
            return None
        memo_key = (id(inv), node)
        if memo_key in self._texts:
            found = self._texts[memo_key]
            return None if found is None else dataclasses.replace(found, expression=location)
        found = self.runner.check(
            inv.constraint, node, location, resource=where.resource, root_resource=where.root
        )
        if len(self._texts) >= MEMO_LIMIT:
            self._texts.clear()
        self._texts[memo_key] = found
        return found


def _compile(key: str, expression: str, constraint: dict[str, Any]) -> Invariant:
    """A constraint ready to be compiled (its Java-fixed expression; hand-written native
    evaluators for the core invariants every resource has)."""
    fixed = fixed_expression(key, expression)
    narrative = key in NARRATIVE and fixed.strip() == "htmlChecks()"
    tree: dict[str, Any] | None = None
    problem: str | None = None
    native: Fn | None = None if narrative else HAND_WRITTEN.get(fixed)
    reads_context = any(v in fixed for v in ("%resource", "%rootResource", "%context", "resolve("))
    return Invariant(
        key=key,
        constraint=constraint,
        expression=fixed,
        native=native,
        tree=tree,
        problem=problem,
        empty_holds=any(f in fixed for f in UNDECIDED_FUNCTIONS),
        by_value=not reads_context,
        narrative=narrative,
    )


def _plain(item: Any) -> Any:
    """A fhirpathpy result item as plain data (companion objects kept as dicts)."""
    return getattr(item, "data", item)


def _verdict(inv: Invariant, values: list[Any]) -> bool | str:
    """Java's reading of a result: one boolean is the answer, empty fails, more is a problem."""
    values = [v for v in values if not (isinstance(v, dict) and set(v) <= {"id", "extension"})]
    if not values:
        return inv.empty_holds
    if len(values) == 1 and type(values[0]) is bool:
        return bool(values[0])
    return True  # Java's convertToBoolean: any other non-empty result counts as true
