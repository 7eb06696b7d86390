"""Validation and local evaluation of ``$vectorSearch`` pre-filters.

Atlas accepts a subset of MQL in the ``filter`` of ``$vectorSearch``: ``$eq`` (also written
``{field: value}``), ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$nin``, ``$not``,
``$nor``, ``$and``, ``$or`` and ``$exists``. Every field named must be indexed with
``type: "filter"``, and values must be booleans, numbers, strings, datetimes, ObjectIds or
UUIDs. :func:`validate_filter` enforces these rules before a query is sent, and
:func:`compile_filter` evaluates a filter with MongoDB's matching semantics for the embedded
store.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

from bson import ObjectId

from leafsearch.errors import InvalidFilterError

LOGICAL_OPERATORS = frozenset({"$and", "$or", "$nor"})
FIELD_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$not", "$exists"}
)
ALLOWED_OPERATORS: frozenset[str] = LOGICAL_OPERATORS | FIELD_OPERATORS

_RANGE_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_SUPPORTED = ", ".join(sorted(ALLOWED_OPERATORS))
_VALUE_TYPES = "bool, int, float, str, datetime, ObjectId or UUID"
# Type classes that range operators accept. A range matches only values of the operand's class.
_ORDERED_CLASSES = frozenset({"number", "string", "datetime", "objectid"})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# A compiled test on one field: (field present in the document, candidate values) -> matched.
_FieldTest = Callable[[bool, list[Any]], bool]
DocumentPredicate = Callable[[Mapping[str, Any]], bool]


# --- validation -----------------------------------------------------------------------------


def validate_filter(filter: Mapping[str, Any] | None, filter_fields: Collection[str]) -> None:
    """Check that ``filter`` is a pre-filter that Atlas ``$vectorSearch`` accepts.

    ``filter_fields`` are the paths declared as filter fields at index time. Dotted paths such
    as ``"meta.year"`` must be declared exactly as written.

    Raises:
        InvalidFilterError: naming the offending operator, field or value and the fix.
    """
    if filter is None:
        return
    _check_document(filter, frozenset(filter_fields), "filter")


def _check_document(document: Any, fields: frozenset[str] | None, where: str) -> None:
    # ``fields`` is None when only the structure is checked (see compile_filter).
    if not isinstance(document, Mapping):
        raise InvalidFilterError(f"{where} must be a document (dict), got {document!r}")
    for key, value in document.items():
        if not isinstance(key, str) or not key:
            raise InvalidFilterError(f"invalid field name {key!r} in {where}")
        if key in LOGICAL_OPERATORS:
            _check_logical(key, value, fields, where)
        elif key == "$not":
            raise InvalidFilterError(
                f"$not is not a top-level operator in {where}; apply it to a field, as in "
                "{'year': {'$not': {'$gt': 2000}}}, or use $nor: [ ... ] to negate a document"
            )
        elif key.startswith("$"):
            _reject_operator(key)
        else:
            _check_field(key, value, fields)


def _check_logical(op: str, value: Any, fields: frozenset[str] | None, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise InvalidFilterError(
            f"{op} in {where} must be a non-empty list of documents, got {value!r}"
        )
    for index, clause in enumerate(value):
        _check_document(clause, fields, f"{op}[{index}]")


def _reject_operator(op: str) -> None:
    raise InvalidFilterError(
        f"operator {op} is not supported by $vectorSearch filters; supported: {_SUPPORTED}"
    )


def _check_field(path: str, value: Any, fields: frozenset[str] | None) -> None:
    if fields is not None and path not in fields:
        raise InvalidFilterError(
            f"field {path!r} is not a filter field; declare it with --filter-field {path} "
            "when indexing, or filter the results after the search"
        )
    if _is_operator_document(value):
        _check_operators(path, value)
    elif isinstance(value, Mapping):
        raise InvalidFilterError(
            f"field {path!r}: a document value {value!r} cannot be matched by $vectorSearch "
            f"filters; compare a dotted path such as '{path}.<key>' with a scalar instead, or "
            "check that every key of an operator document starts with '$'"
        )
    else:
        _check_operand(path, "$eq", value)


def _is_operator_document(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(key, str) and key.startswith("$") for key in value)
    )


def _check_operators(path: str, operators: Mapping[str, Any]) -> None:
    for op, operand in operators.items():
        if op in LOGICAL_OPERATORS:
            raise InvalidFilterError(
                f"field {path!r}: {op} is a top-level operator; write "
                f"{{'{op}': [{{'{path}': ...}}, ...]}} instead"
            )
        if op not in FIELD_OPERATORS:
            _reject_operator(op)
        if op == "$not":
            if not _is_operator_document(operand):
                raise InvalidFilterError(
                    f"field {path!r}: $not must be a document of operators such as "
                    f"{{'$gt': 5}}, got {operand!r}"
                )
            _check_operators(path, operand)
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise InvalidFilterError(
                    f"field {path!r}: $exists must be true or false, got {operand!r}"
                )
        elif op in ("$in", "$nin"):
            if not isinstance(operand, (list, tuple)):
                raise InvalidFilterError(
                    f"field {path!r}: {op} must be a list of values, got {operand!r}"
                )
            for item in operand:
                _check_operand(path, op, item)
        else:
            _check_operand(path, op, operand)


def _check_operand(path: str, op: str, value: Any) -> None:
    if value is None:
        if op in ("$eq", "$ne"):
            return
        raise InvalidFilterError(
            f"field {path!r}: None (null) is only allowed with $eq and $ne, not with {op}"
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidFilterError(
            f"field {path!r}: {op} cannot compare with a list {value!r}; use $in to match "
            "any of several values"
        )
    value_class = _type_class(value)
    if value_class is None:
        hint = (
            "; datetime.date is not a BSON type, pass a datetime"
            if isinstance(value, dt.date)
            else ""
        )
        raise InvalidFilterError(
            f"field {path!r}: {op} value {value!r} has unsupported type "
            f"{type(value).__name__}; filter values must be {_VALUE_TYPES}{hint}"
        )
    if isinstance(value, float) and math.isnan(value):
        raise InvalidFilterError(f"field {path!r}: {op} value must not be NaN")
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidFilterError(
            f"field {path!r}: {op} value {value} does not fit in a 64-bit BSON integer"
        )
    if op in _RANGE_OPERATORS and value_class not in _ORDERED_CLASSES:
        raise InvalidFilterError(
            f"field {path!r}: {op} cannot compare with {value!r}; range operators take a "
            "number, string, datetime or ObjectId"
        )


def filter_fields_used(filter: Mapping[str, Any] | None) -> set[str]:
    """Return every field path that ``filter`` names, including those inside $and/$or/$nor."""
    used: set[str] = set()
    if not isinstance(filter, Mapping):
        return used
    for key, value in filter.items():
        if key in LOGICAL_OPERATORS and isinstance(value, list):
            for clause in value:
                used |= filter_fields_used(clause)
        elif isinstance(key, str) and not key.startswith("$"):
            used.add(key)
    return used


# --- evaluation -----------------------------------------------------------------------------


def _type_class(value: Any) -> str | None:
    """Return MongoDB's comparison class of ``value``, or None for unsupported types."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, ObjectId):
        return "objectid"
    if isinstance(value, uuid.UUID):
        return "uuid"
    return None


def _sort_key(value: Any) -> tuple[str, Any] | None:
    """Return ``(class, value)``, so that equal keys mean equal values under MongoDB rules."""
    value_class = _type_class(value)
    if value_class is None:
        return None
    if value_class == "datetime" and value.tzinfo is not None:
        # BSON dates are UTC instants, and pymongo reads naive datetimes as UTC.
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (value_class, value)


def _lookup(document: Mapping[str, Any], parts: tuple[str, ...]) -> tuple[bool, list[Any]]:
    """Resolve a dotted path and return whether it exists and the values that operators test.

    Arrays of documents on the way are traversed element by element, and an array at the end
    contributes its elements, as in MongoDB queries.
    """
    current: list[Any] = [document]
    for part in parts:
        found: list[Any] = []
        for value in current:
            if isinstance(value, Mapping):
                if part in value:
                    found.append(value[part])
            elif isinstance(value, list):
                found.extend(
                    item[part] for item in value if isinstance(item, Mapping) and part in item
                )
        if not found:
            return False, []
        current = found
    candidates: list[Any] = []
    for value in current:
        if isinstance(value, (list, tuple)):
            candidates.extend(value)
        else:
            candidates.append(value)
    return True, candidates


def _compile_equals(operand: Any) -> _FieldTest:
    key = _sort_key(operand)
    if operand is None:
        # {field: None} matches a missing field as well as a null value.
        return lambda present, values: not present or any(v is None for v in values)
    return lambda present, values: any(_sort_key(v) == key for v in values)


def _compile_range(op: str, operand: Any) -> _FieldTest:
    compare = _RANGE_OPERATORS[op]
    operand_class, operand_value = _sort_key(operand) or ("", None)

    def test(present: bool, values: list[Any]) -> bool:
        for value in values:
            key = _sort_key(value)
            if key is not None and key[0] == operand_class and compare(key[1], operand_value):
                return True
        return False

    return test


def _negate(test: _FieldTest) -> _FieldTest:
    return lambda present, values: not test(present, values)


def _compile_operator(op: str, operand: Any) -> _FieldTest:
    if op == "$eq":
        return _compile_equals(operand)
    if op == "$ne":
        return _negate(_compile_equals(operand))
    if op in _RANGE_OPERATORS:
        return _compile_range(op, operand)
    if op in ("$in", "$nin"):
        tests = [_compile_equals(item) for item in operand]

        def test_in(present: bool, values: list[Any]) -> bool:
            return any(test(present, values) for test in tests)

        return test_in if op == "$in" else _negate(test_in)
    if op == "$exists":
        expected = bool(operand)
        return lambda present, values: present == expected
    if op == "$not":
        return _negate(_compile_operators(operand))
    raise AssertionError(f"unchecked operator {op}")  # _check_document rejects it first


def _compile_operators(operators: Mapping[str, Any]) -> _FieldTest:
    # Operators on one field are ANDed, and on an array each may match a different element:
    # {"n": {"$gt": 2, "$lt": 4}} matches {"n": [1, 5]}, as in MongoDB without $elemMatch.
    # NOTE: whether mongot merges such bounds into one range per element is not verified.
    tests = [_compile_operator(op, operand) for op, operand in operators.items()]
    if len(tests) == 1:
        return tests[0]
    return lambda present, values: all(t(present, values) for t in tests)


def _compile_field(path: str, condition: Any) -> DocumentPredicate:
    parts = tuple(path.split("."))
    if _is_operator_document(condition):
        test = _compile_operators(condition)
    else:
        test = _compile_equals(condition)
    return lambda document: test(*_lookup(document, parts))


def _compile_logical(op: str, clauses: list[DocumentPredicate]) -> DocumentPredicate:
    def test_and(document: Mapping[str, Any]) -> bool:
        return all(clause(document) for clause in clauses)

    def test_or(document: Mapping[str, Any]) -> bool:
        return any(clause(document) for clause in clauses)

    def test_nor(document: Mapping[str, Any]) -> bool:
        return not any(clause(document) for clause in clauses)

    return {"$and": test_and, "$or": test_or, "$nor": test_nor}[op]


def _compile_document(document: Mapping[str, Any]) -> DocumentPredicate:
    predicates: list[DocumentPredicate] = []
    for key, value in document.items():
        if key in LOGICAL_OPERATORS:
            predicates.append(_compile_logical(key, [_compile_document(c) for c in value]))
        else:
            predicates.append(_compile_field(key, value))
    if len(predicates) == 1:
        return predicates[0]
    return lambda doc: all(p(doc) for p in predicates)


def compile_filter(filter: Mapping[str, Any] | None) -> DocumentPredicate:
    """Compile ``filter`` into a predicate that returns whether a document matches it.

    The filter's structure is checked and parsed once, so the predicate is cheap to call on
    many documents. Field declarations are not checked here; call :func:`validate_filter`
    for that. An empty or ``None`` filter matches every document.

    Raises:
        InvalidFilterError: if the filter uses an unsupported operator or shape.
    """
    if not filter:
        return lambda document: True
    _check_document(filter, None, "filter")
    return _compile_document(filter)


def matches(filter: Mapping[str, Any] | None, document: Mapping[str, Any]) -> bool:
    """Return whether ``document`` matches ``filter`` under MongoDB query semantics."""
    return compile_filter(filter)(document)
