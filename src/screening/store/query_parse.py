"""Parse a FHIR search query string into criteria and result parameters (no SQL here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from screening.fhir.datetimes import parse_fhir_date_range
from screening.fhir.outcome import BadRequest, Issue
from screening.fhir.search_extract import SearchIndexer, SearchParam

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "missing"},
    "date": {"missing"},
    "reference": {"missing"},  # plus a resource type name, e.g. subject:Patient
    "quantity": {"missing"},
    "number": {"missing"},
    "uri": {"missing", "below"},
    "_id": {"not", "missing"},
    "_lastUpdated": {"missing"},
}
RESULT_PARAMS = {
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_total",
    "_elements",
    "_format",
    "_pretty",
    "_getpages",
    "_getpagesoffset",
}
SORTABLE = {"string", "token", "date", "number", "quantity", "uri", "reference"}
MAX_COUNT_DEFAULT = 500


@dataclass(frozen=True)
class Criterion:
    """One search parameter occurrence: its values are OR-ed; criteria are AND-ed."""

    name: str
    type: str  # a SearchParameter type, or "_id" / "_lastUpdated"
    modifier: str | None
    values: tuple[str, ...]
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Include:
    """`_include=Source:param[:Target]` or the same for `_revinclude`."""

    source: str
    param: str  # "*" for every reference parameter
    target: str | None


@dataclass
class SearchQuery:
    """Everything a search asks for, parsed and checked against the type's parameters."""

    res_type: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = 20
    sort: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, type, descending)
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    summary_count: bool = False
    elements: list[str] | None = None
    issues: list[Issue] = field(default_factory=list)


def split_values(raw: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    parts = re.split(r"(?<!\\),", raw)
    return [p.replace("\\,", ",") for p in parts]


def split_pipe(raw: str) -> tuple[str | None, str]:
    """`system|code` -> (system, code); no pipe -> (None, value); escaped `\\|` is literal."""
    parts = re.split(r"(?<!\\)\|", raw, maxsplit=1)
    if len(parts) == 1:
        return None, raw.replace("\\|", "|")
    return parts[0].replace("\\|", "|"), parts[1].replace("\\|", "|")


def split_prefix(raw: str) -> tuple[str, str]:
    """`ge2020` -> ("ge", "2020"); no prefix -> ("eq", value)."""
    if len(raw) > 2 and raw[:2] in PREFIXES and not raw[2:3].isalpha():
        return raw[:2], raw[2:]
    return "eq", raw


def parse_decimal(raw: str, name: str) -> Decimal:
    """A search number; BadRequest if it is not one."""
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise BadRequest(f"Parameter '{name}': '{raw}' is not a number") from exc
    if not value.is_finite():
        raise BadRequest(f"Parameter '{name}': '{raw}' is not a number")
    return value


class QueryParser:
    """Turn (name, value) pairs into a SearchQuery for one resource type."""

    def __init__(
        self,
        indexer: SearchIndexer,
        resource_types: set[str],
        default_count: int = 20,
        max_count: int = MAX_COUNT_DEFAULT,
    ) -> None:
        self.indexer = indexer
        self.resource_types = resource_types
        self.default_count = default_count
        self.max_count = max_count
        self.params: dict[str, SearchParam] = {}

    def parse(self, res_type: str, pairs: list[tuple[str, str]]) -> SearchQuery:
        """Parse the query; BadRequest for malformed values, issues for unknown names."""
        self.params = self.indexer.params_for(res_type)
        query = SearchQuery(res_type, count=self.default_count)
        for key, raw in pairs:
            name, _, modifier = key.partition(":")
            if name in RESULT_PARAMS:
                self._result_param(query, name, modifier, raw)
            else:
                self._criterion(query, name, modifier or None, raw)
        return query

    def _criterion(self, query: SearchQuery, name: str, modifier: str | None, raw: str) -> None:
        if "." in name:
            query.issues.append(_unsupported(f"Chained parameter '{name}' is not supported"))
            return
        targets: tuple[str, ...] = ()
        if name in ("_id", "_lastUpdated"):
            kind = name
        elif name in self.params:
            kind, targets = self.params[name].type, self.params[name].targets
        else:
            query.issues.append(
                _unsupported(f"Unknown search parameter '{name}' for {query.res_type}")
            )
            return
        modifier = self._check_modifier(name, kind, modifier)
        values = tuple(v for v in split_values(raw) if v != "")
        if not values:
            return  # an empty parameter is ignored, as the specification says
        if modifier == "missing" and values not in (("true",), ("false",)):
            raise BadRequest(f"Parameter '{name}:missing' takes true or false")
        for value in values:
            self._check_value(name, kind, modifier, value)
        query.criteria.append(Criterion(name, kind, modifier, values, targets))

    def _check_modifier(self, name: str, kind: str, modifier: str | None) -> str | None:
        if modifier is None:
            return None
        if kind == "reference" and modifier in self.resource_types:
            return modifier
        if modifier not in MODIFIERS.get(kind, set()):
            raise BadRequest(f"Modifier ':{modifier}' is not supported on '{name}' ({kind})")
        return modifier

    def _check_value(self, name: str, kind: str, modifier: str | None, value: str) -> None:
        if modifier == "missing":
            return
        if kind in ("date", "_lastUpdated"):
            _, text = split_prefix(value)
            try:
                parse_fhir_date_range(text)
            except ValueError as exc:
                raise BadRequest(f"Parameter '{name}': '{value}' is not a valid date") from exc
        elif kind in ("number", "quantity"):
            _prefix, text = split_prefix(value)
            parse_decimal(text.split("|", 1)[0], name)

    def _result_param(self, query: SearchQuery, name: str, modifier: str, raw: str) -> None:
        if name == "_count":
            query.count = self._count(raw)
        elif name == "_sort":
            query.sort = self._sort(query.res_type, raw)
        elif name in ("_include", "_revinclude"):
            if modifier:
                raise BadRequest(f"'{name}:{modifier}' is not supported")
            spec = self._include(query.res_type, name, raw)
            (query.include if name == "_include" else query.revinclude).append(spec)
        elif name == "_summary":
            if raw == "count":
                query.summary_count = True
            elif raw != "false":
                raise BadRequest("Only _summary=count and _summary=false are supported")
        elif name == "_elements":
            query.elements = [e.strip() for e in raw.split(",") if e.strip()]
        elif name == "_total" and raw not in ("none", "estimate", "accurate"):
            raise BadRequest("_total takes none, estimate or accurate")
        elif name == "_format" and raw not in (
            "json",
            "application/fhir+json",
            "application/json",
            "application/json+fhir",
        ):
            raise BadRequest(f"_format '{raw}' is not supported: this server speaks JSON")

    def _count(self, raw: str) -> int:
        if not raw.isdigit():
            raise BadRequest(f"_count must be a whole number, not '{raw}'")
        return min(int(raw), self.max_count)

    def _sort(self, res_type: str, raw: str) -> list[tuple[str, str, bool]]:
        keys = []
        for item in split_values(raw):
            desc = item.startswith("-")
            name = item[1:] if desc else item
            if name in ("_id", "_lastUpdated"):
                keys.append((name, name, desc))
            elif name in self.params and self.params[name].type in SORTABLE:
                keys.append((name, self.params[name].type, desc))
            else:
                raise BadRequest(f"Cannot sort {res_type} by '{name}'")
        return keys

    def _include(self, res_type: str, name: str, raw: str) -> Include:
        parts = raw.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadRequest(f"{name} takes Source:parameter[:Target], not '{raw}'")
        source, param = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if name == "_include" and source != res_type:
            raise BadRequest(f"_include source must be {res_type}, not '{source}'")
        if source not in self.resource_types or (target and target not in self.resource_types):
            raise BadRequest(f"{name}: unknown resource type in '{raw}'")
        source_params = self.indexer.params_for(source)
        if param != "*" and (
            param not in source_params or source_params[param].type != "reference"
        ):
            raise BadRequest(f"{name}: '{param}' is not a reference parameter of {source}")
        return Include(source, param, target)


def _unsupported(text: str) -> Issue:
    return Issue("warning", "not-supported", text)
