"""Tests for leafsearch.filters: $vectorSearch pre-filter validation and local matching."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest
from bson import ObjectId

from leafsearch.errors import InvalidFilterError
from leafsearch.filters import (
    ALLOWED_OPERATORS,
    compile_filter,
    filter_fields_used,
    matches,
    validate_filter,
)

UTC = dt.timezone.utc
OID_A = ObjectId("64b000000000000000000001")
OID_B = ObjectId("64b000000000000000000002")
UUID_A = uuid.UUID("12345678-1234-5678-1234-567812345678")

DOC: dict[str, Any] = {
    "year": 2015,
    "score": 0.75,
    "lang": "en",
    "draft": False,
    "tags": ["python", "search"],
    "nums": [1, 5, 9],
    "meta": {"author": "ada", "pages": 120, "nested": {"level": 3}},
    "authors": [{"name": "ada"}, {"name": "bob"}],
    "empty": [],
    "nothing": None,
    "published": dt.datetime(2020, 5, 17, 12, 0),
    "oid": OID_A,
    "uid": UUID_A,
    "flag": True,
    "text_num": "5",
}

# (filter, expected match against DOC)
MATCH_CASES: list[tuple[dict[str, Any], bool]] = [
    # equality, short and long form
    ({"year": 2015}, True),
    ({"year": 2016}, False),
    ({"year": {"$eq": 2015}}, True),
    ({"year": 2015.0}, True),
    ({"lang": "en"}, True),
    ({"lang": "EN"}, False),
    ({"draft": False}, True),
    ({"draft": 0}, False),
    ({"flag": 1}, False),
    ({"flag": True}, True),
    ({"year": "2015"}, False),
    ({"oid": OID_A}, True),
    ({"oid": OID_B}, False),
    ({"uid": UUID_A}, True),
    ({"uid": str(UUID_A)}, False),
    ({"published": dt.datetime(2020, 5, 17, 12, 0)}, True),
    (
        {"published": dt.datetime(2020, 5, 17, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
        True,
    ),
    # $ne
    ({"year": {"$ne": 2015}}, False),
    ({"year": {"$ne": 2016}}, True),
    ({"missing": {"$ne": 1}}, True),
    ({"tags": {"$ne": "python"}}, False),
    ({"tags": {"$ne": "java"}}, True),
    # null and missing fields
    ({"missing": None}, True),
    ({"nothing": None}, True),
    ({"year": None}, False),
    ({"empty": None}, False),
    ({"missing": {"$ne": None}}, False),
    ({"nothing": {"$ne": None}}, False),
    ({"year": {"$ne": None}}, True),
    ({"missing": 1}, False),
    # $exists
    ({"year": {"$exists": True}}, True),
    ({"year": {"$exists": False}}, False),
    ({"missing": {"$exists": False}}, True),
    ({"missing": {"$exists": True}}, False),
    ({"nothing": {"$exists": True}}, True),
    ({"empty": {"$exists": True}}, True),
    # range operators
    ({"year": {"$gt": 2014}}, True),
    ({"year": {"$gt": 2015}}, False),
    ({"year": {"$gte": 2015}}, True),
    ({"year": {"$lt": 2015}}, False),
    ({"year": {"$lte": 2015}}, True),
    ({"score": {"$gt": 0.5, "$lt": 1}}, True),
    ({"score": {"$gt": 0.5, "$lt": 0.7}}, False),
    ({"lang": {"$gt": "de"}}, True),
    ({"lang": {"$gt": "fr"}}, False),
    ({"published": {"$gte": dt.datetime(2020, 1, 1)}}, True),
    ({"published": {"$lt": dt.datetime(2020, 1, 1, tzinfo=UTC)}}, False),
    ({"oid": {"$lt": OID_B}}, True),
    ({"missing": {"$gt": 0}}, False),
    ({"missing": {"$lt": 0}}, False),
    ({"nothing": {"$lt": 0}}, False),
    # type bracketing: no comparison across types
    ({"text_num": {"$gt": 4}}, False),
    ({"text_num": {"$lt": 6}}, False),
    ({"flag": {"$gte": 0}}, False),
    ({"year": {"$gt": "1000"}}, False),
    ({"published": {"$gt": 0}}, False),
    # arrays: any element for $eq/$in/range, no element for $ne/$nin
    ({"tags": "python"}, True),
    ({"tags": "java"}, False),
    ({"nums": {"$gt": 8}}, True),
    ({"nums": {"$gt": 9}}, False),
    ({"nums": {"$gt": 4, "$lt": 6}}, True),
    # Each operator may be satisfied by a different element (1 < 4, 5 > 2), as in MongoDB.
    ({"nums": {"$gt": 2, "$lt": 4}}, True),
    ({"nums": {"$gt": 9, "$lt": 4}}, False),
    ({"empty": {"$gt": 0}}, False),
    # $in / $nin
    ({"lang": {"$in": ["de", "en"]}}, True),
    ({"lang": {"$in": ["de", "fr"]}}, False),
    ({"lang": {"$in": []}}, False),
    ({"tags": {"$in": ["java", "search"]}}, True),
    ({"year": {"$in": [2015.0]}}, True),
    ({"draft": {"$in": [0]}}, False),
    ({"lang": {"$nin": ["de", "fr"]}}, True),
    ({"lang": {"$nin": ["en"]}}, False),
    ({"tags": {"$nin": ["java", "search"]}}, False),
    ({"tags": {"$nin": ["java", "rust"]}}, True),
    ({"missing": {"$nin": ["x"]}}, True),
    ({"missing": {"$in": ["x"]}}, False),
    # $not
    ({"year": {"$not": {"$gt": 2020}}}, True),
    ({"year": {"$not": {"$gt": 2010}}}, False),
    ({"missing": {"$not": {"$gt": 0}}}, True),
    ({"text_num": {"$not": {"$gt": 4}}}, True),
    ({"year": {"$not": {"$gt": 2010, "$lt": 2012}}}, True),
    ({"lang": {"$not": {"$in": ["en", "de"]}}}, False),
    # nested paths
    ({"meta.author": "ada"}, True),
    ({"meta.pages": {"$gte": 100}}, True),
    ({"meta.nested.level": 3}, True),
    ({"meta.nested.level": {"$exists": True}}, True),
    ({"meta.nested.depth": {"$exists": True}}, False),
    ({"meta.missing": None}, True),
    ({"lang.sub": {"$exists": True}}, False),
    ({"authors.name": "bob"}, True),
    ({"authors.name": {"$nin": ["ada"]}}, False),
    # implicit and explicit logic
    ({"year": 2015, "lang": "en"}, True),
    ({"year": 2015, "lang": "de"}, False),
    ({"$and": [{"year": 2015}, {"lang": "en"}]}, True),
    ({"$and": [{"year": 2015}, {"lang": "de"}]}, False),
    ({"$or": [{"year": 1999}, {"lang": "en"}]}, True),
    ({"$or": [{"year": 1999}, {"lang": "de"}]}, False),
    ({"$nor": [{"year": 1999}, {"lang": "de"}]}, True),
    ({"$nor": [{"year": 1999}, {"lang": "en"}]}, False),
    ({"$or": [{"$and": [{"year": 2015}, {"draft": True}]}, {"tags": "search"}]}, True),
    ({"$and": [{"$or": [{"year": 1}, {"year": 2}]}, {"lang": "en"}]}, False),
    ({"lang": "en", "$or": [{"year": 1}, {"year": 2}]}, False),
    # empty filter matches everything
    ({}, True),
]


@pytest.mark.parametrize(
    ("filter_", "expected"), MATCH_CASES, ids=[repr(f) for f, _ in MATCH_CASES]
)
def test_matches_case(filter_: dict[str, Any], expected: bool) -> None:
    assert matches(filter_, DOC) is expected


@pytest.mark.parametrize(
    ("filter_", "expected"), MATCH_CASES, ids=[repr(f) for f, _ in MATCH_CASES]
)
def test_compiled_filter_agrees(filter_: dict[str, Any], expected: bool) -> None:
    predicate = compile_filter(filter_)
    assert predicate(DOC) is expected
    assert predicate(dict(DOC)) is expected


def test_none_filter_matches_everything() -> None:
    assert matches(None, {}) is True
    assert compile_filter(None)({"a": 1}) is True


def test_compiled_filter_over_many_documents() -> None:
    docs = [{"_id": i, "n": i, "tags": ["even" if i % 2 == 0 else "odd"]} for i in range(20)]
    predicate = compile_filter({"n": {"$gte": 5, "$lt": 15}, "tags": "even"})
    selected = [doc["_id"] for doc in docs if predicate(doc)]
    assert selected == [6, 8, 10, 12, 14]


def test_compile_filter_rejects_unknown_operator() -> None:
    with pytest.raises(InvalidFilterError, match=r"\$regex"):
        compile_filter({"name": {"$regex": "^a"}})


def test_allowed_operators_exact() -> None:
    assert ALLOWED_OPERATORS == {
        "$eq", "$ne", "$gt", "$gte", "$lt", "$lte",
        "$in", "$nin", "$not", "$nor", "$and", "$or", "$exists",
    }  # fmt: skip


FIELDS = ["year", "lang", "tags", "meta.year", "published", "oid", "uid", "draft"]


@pytest.mark.parametrize(
    "filter_",
    [
        None,
        {},
        {"year": 2015},
        {"year": {"$gte": 2000, "$lt": 2020}},
        {"lang": {"$in": ["en", "de"]}, "draft": False},
        {"tags": {"$nin": ["x"]}},
        {"meta.year": {"$ne": None}},
        {"year": None},
        {"year": {"$exists": False}},
        {"year": {"$not": {"$lt": 2000}}},
        {"$or": [{"year": 1}, {"$and": [{"lang": "en"}, {"draft": True}]}]},
        {"$nor": [{"lang": "fr"}]},
        {"published": {"$gt": dt.datetime(2020, 1, 1, tzinfo=UTC)}},
        {"oid": ObjectId(), "uid": uuid.uuid4()},
        {"lang": {"$gt": "a"}},
        {"year": {"$in": (1, 2)}},
    ],
)
def test_validate_accepts(filter_: dict[str, Any] | None) -> None:
    validate_filter(filter_, FIELDS)


# (filter, substrings the error message must contain)
REJECT_CASES: list[tuple[Any, list[str]]] = [
    ({"title": "x"}, ["'title'", "--filter-field title"]),
    ({"meta": {"$eq": 1}}, ["'meta'", "not a filter field"]),
    ({"$or": [{"year": 1}, {"pages": 2}]}, ["'pages'", "--filter-field pages"]),
    ({"lang": {"$regex": "^e"}}, ["$regex", "supported: $and"]),
    ({"tags": {"$elemMatch": {"$eq": "x"}}}, ["$elemMatch"]),
    ({"$expr": {"$gt": ["$year", 1]}}, ["$expr"]),
    ({"$text": {"$search": "x"}}, ["$text"]),
    ({"$where": "this.year > 1"}, ["$where"]),
    ({"tags": {"$size": 2}}, ["$size"]),
    ({"tags": {"$all": ["a"]}}, ["$all"]),
    ({"$not": {"year": 1}}, ["$not", "top-level", "$nor"]),
    ({"year": {"$and": [{"$gt": 1}]}}, ["$and", "top-level"]),
    ({"year": {"$in": 2015}}, ["$in", "list", "2015"]),
    ({"year": {"$nin": "abc"}}, ["$nin", "list"]),
    ({"$and": {"year": 1}}, ["$and", "non-empty list"]),
    ({"$or": []}, ["$or", "non-empty list"]),
    ({"$nor": [1]}, ["$nor[0]", "document"]),
    ({"year": {"$not": 5}}, ["$not", "document of operators"]),
    ({"year": {"$not": {"lt": 5}}}, ["$not", "document of operators"]),
    ({"year": {"$exists": 1}}, ["$exists", "true or false"]),
    ({"year": {"$exists": "yes"}}, ["$exists"]),
    ({"meta.year": {"a": 1}}, ["'meta.year'", "document value"]),
    ({"year": {}}, ["'year'", "document value"]),
    ({"year": {"$gt": 1, "lt": 5}}, ["'year'", "starts with '$'"]),
    ({"tags": ["a", "b"]}, ["'tags'", "$in"]),
    ({"tags": {"$eq": ["a"]}}, ["$eq", "$in"]),
    ({"tags": {"$in": [["a"]]}}, ["$in", "list"]),
    ({"tags": {"$in": [{"a": 1}]}}, ["$in", "unsupported type dict"]),
    ({"tags": {"$in": [None]}}, ["None", "$in"]),
    ({"year": {"$gt": None}}, ["None", "$gt"]),
    ({"tags": {"$eq": {"a", "b"}}}, ["$eq", "list"]),
    ({"lang": b"en"}, ["bytes", "unsupported type"]),
    ({"year": decimal.Decimal("1.5")}, ["Decimal", "unsupported type"]),
    ({"published": dt.date(2020, 1, 1)}, ["date", "pass a datetime"]),
    ({"year": float("nan")}, ["NaN", "'year'"]),
    ({"year": {"$lt": float("nan")}}, ["NaN", "$lt"]),
    ({"year": 2**63}, ["64-bit"]),
    ({"draft": {"$gt": False}}, ["$gt", "False", "range operators"]),
    ({"uid": {"$lte": UUID_A}}, ["$lte", "range operators"]),
    ({"": 1}, ["invalid field name"]),
    ({1: 1}, ["invalid field name 1"]),
    ([("year", 1)], ["must be a document"]),
]


@pytest.mark.parametrize(
    ("filter_", "needles"), REJECT_CASES, ids=[repr(f) for f, _ in REJECT_CASES]
)
def test_validate_rejects(filter_: Any, needles: list[str]) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        validate_filter(filter_, FIELDS)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_validate_requires_exact_dotted_path() -> None:
    validate_filter({"meta.year": 1}, ["meta.year"])
    with pytest.raises(InvalidFilterError, match="'meta.year'"):
        validate_filter({"meta.year": 1}, ["meta"])
    with pytest.raises(InvalidFilterError, match="'meta'"):
        validate_filter({"meta": 1}, ["meta.year"])


def test_validate_with_no_filter_fields() -> None:
    validate_filter({}, [])
    with pytest.raises(InvalidFilterError, match="not a filter field"):
        validate_filter({"year": 1}, [])


def test_filter_fields_used_collects_nested() -> None:
    filter_ = {
        "year": {"$gt": 1},
        "$or": [{"lang": "en"}, {"$nor": [{"meta.year": 2}]}],
        "$and": [{"tags": {"$not": {"$in": ["a"]}}}],
    }
    assert filter_fields_used(filter_) == {"year", "lang", "meta.year", "tags"}


def test_filter_fields_used_empty() -> None:
    assert filter_fields_used(None) == set()
    assert filter_fields_used({}) == set()
