"""Annotation → spec type, literal checks and command-line coercion."""

from typing import Any, NamedTuple, Optional, Union

import pytest

from mloop.artifacts import Artifact, Dataset, Metrics, Model
from mloop.dsl import RunStatus
from mloop.dsl._types import (
    ArtifactType,
    ParamType,
    RunStatusType,
    annotation_type,
    check_value,
    coerce_value,
    input_spec,
    return_types,
)
from mloop.errors import DefinitionError


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, ParamType("str")),
        (int, ParamType("int")),
        (float, ParamType("float")),
        (bool, ParamType("bool")),
        (dict, ParamType("dict")),
        (dict[str, int], ParamType("dict")),
        (list, ParamType("list")),
        (list[float], ParamType("list", item=ParamType("float"))),
        (Any, ParamType("any")),
        (Optional[int], ParamType("int", optional=True)),  # noqa: UP045
        (int | None, ParamType("int", optional=True)),
        (Dataset, ArtifactType(Dataset)),
        (Artifact, ArtifactType(Artifact)),
        (list[Dataset], ArtifactType(Dataset, list=True)),
        (Optional[Model], ArtifactType(Model, optional=True)),  # noqa: UP045
        (RunStatus, RunStatusType()),
    ],
)
def test_annotation_types(annotation: Any, expected: Any) -> None:
    assert annotation_type(annotation) == expected


@pytest.mark.parametrize("annotation", [tuple[int, int], Union[int, str], set, complex])  # noqa: UP007
def test_unsupported_annotations_name_the_argument(annotation: Any) -> None:
    with pytest.raises(DefinitionError, match="component 'c', argument 'x': unsupported") as info:
        annotation_type(annotation, component="c", argument="x")
    assert info.value.fields == {"component": "c", "argument": "x"}


def test_input_spec_entries() -> None:
    assert input_spec(ArtifactType(Dataset, list=True)) == {
        "kind": "artifact",
        "type": "Dataset",
        "list": True,
        "optional": False,
    }
    assert input_spec(ParamType("int"), 3) == {
        "kind": "parameter",
        "type": "int",
        "optional": False,
        "required": False,
        "default": 3,
    }
    assert input_spec(ParamType("str", optional=True)) == {
        "kind": "parameter",
        "type": "str",
        "optional": True,
        "required": True,
    }


class Two(NamedTuple):
    metrics: Metrics
    auc: float


def test_return_types() -> None:
    assert return_types(None) == ("none", {})
    assert return_types(type(None)) == ("none", {})
    assert return_types(Dataset) == ("single", {"output": ArtifactType(Dataset)})
    assert return_types(Two) == (
        "namedtuple",
        {"metrics": ArtifactType(Metrics), "auc": ParamType("float")},
    )
    with pytest.raises(DefinitionError, match="output 'output'"):
        return_types(list[Dataset], component="c")
    with pytest.raises(DefinitionError, match="NamedTuple"):
        return_types(tuple[int, float], component="c")


def test_check_value() -> None:
    assert check_value(3, ParamType("float")) == 3.0
    assert isinstance(check_value(3, ParamType("float")), float)
    assert check_value((1, 2), ParamType("list")) == [1, 2]
    assert check_value(None, ParamType("int", optional=True)) is None
    assert check_value({"a": [1, None]}, ParamType("any")) == {"a": [1, None]}
    for value, kind in [
        ("abc", "int"),
        (True, "int"),
        (1, "bool"),
        (1.5, "int"),
        ([], "dict"),
        (None, "str"),
    ]:
        with pytest.raises(ValueError):
            check_value(value, ParamType(kind))
    with pytest.raises(ValueError, match="not a int"):
        check_value([1, "x"], ParamType("list", item=ParamType("int")))
    for bad in [object(), {1: "a"}, float("nan"), {1, 2}]:
        with pytest.raises(ValueError):
            check_value(bad, ParamType("any"))


def test_numpy_values_become_python() -> None:
    np = pytest.importorskip("numpy")
    value = check_value(np.float64(0.5), ParamType("float"))
    assert value == 0.5 and type(value) is float
    assert check_value(np.arange(3), ParamType("list")) == [0, 1, 2]
    assert type(check_value(np.int64(2), ParamType("int"))) is int


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("3", ParamType("int"), 3),
        (" 3 ", ParamType("int"), 3),
        ("0.5", ParamType("float"), 0.5),
        ("2", ParamType("float"), 2.0),
        ("true", ParamType("bool"), True),
        ("False", ParamType("bool"), False),
        ("1", ParamType("bool"), True),
        ('{"a": 1}', ParamType("dict"), {"a": 1}),
        ("[1, 2]", ParamType("list"), [1, 2]),
        ("abc", ParamType("str"), "abc"),
        ("3", ParamType("str"), "3"),
        ("null", ParamType("int", optional=True), None),
        ("[1]", ParamType("any"), [1]),
        ("plain text", ParamType("any"), "plain text"),
        (7, ParamType("float"), 7.0),
    ],
)
def test_coerce_value(text: Any, kind: ParamType, expected: Any) -> None:
    assert coerce_value(text, kind) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [("abc", "int"), ("1.5", "int"), ("yes please", "bool"), ("[1", "list"), ("[1]", "dict")],
)
def test_coerce_value_rejects(text: str, kind: str) -> None:
    with pytest.raises(ValueError):
        coerce_value(text, ParamType(kind))
