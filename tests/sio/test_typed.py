"""Typed payloads: which annotations make a parameter typed, and how values are checked and converted."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NewType, TypedDict

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.exceptions import InvalidPayload
from socketeer.protocol.models import to_plain
from socketeer.protocol.socketio_packets import SocketPacket, SocketPacketType, encode_packet
from socketeer.sio.handlers import HandlerSpec
from socketeer.sio.typed import is_model_type, payload_converter

if TYPE_CHECKING:
    from socketeer import Socket  # only for type checkers: never resolved at run time


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: float
    y: float
    label: str = ""


@dataclass
class Shape:
    points: list[Point]
    color: Color
    kind: Literal["line", "polygon"] = "line"
    tags: dict[str, int] = field(default_factory=dict)
    parent: Shape | None = None


class Move(TypedDict):
    piece: str
    to: tuple[int, int]


class Maybe(TypedDict, total=False):
    note: str


class Order(pydantic.BaseModel):
    item: str
    quantity: int = pydantic.Field(gt=0)


UserId = NewType("UserId", int)


@dataclass
class Broken:
    x: Missing  # type: ignore[name-defined]  # noqa: F821


@dataclass
class Owner:
    id: UserId
    blob: bytes | None = None


def convert(annotation: Any, value: Any) -> Any:
    converter = payload_converter(annotation, "data")
    assert converter is not None
    return converter(value)


def error_of(annotation: Any, value: Any) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as info:
        convert(annotation, value)
    return info.value


def test_only_models_make_a_parameter_typed() -> None:
    for plain in (str, int, dict[str, Any], list[int], Any, "Socket", None, int | None):
        assert payload_converter(plain, "data") is None
    for typed in (Point, Move, Order, Point | None, list[Point], dict[str, Order]):
        assert payload_converter(typed, "data") is not None
    assert is_model_type(Point) and is_model_type(Move) and is_model_type(Order)
    assert not is_model_type(dict) and not is_model_type(Point(1, 2))


def test_dataclass_nested_converted() -> None:
    shape = convert(
        Shape,
        {
            "points": [{"x": 1, "y": 2.5}],
            "color": "red",
            "tags": {"a": 1},
            "parent": {"points": [], "color": "blue", "kind": "polygon"},
            "unknown": "ignored",
        },
    )
    assert shape == Shape(
        [Point(1.0, 2.5)], Color.RED, tags={"a": 1}, parent=Shape([], Color.BLUE, "polygon")
    )
    assert isinstance(shape.points[0].x, float)


@pytest.mark.parametrize(
    ("value", "where", "message"),
    [
        ({"points": [{"x": "1", "y": 2}], "color": "red"}, "data.points.0.x", "expected number, got string"),
        ({"points": [{"y": 2}], "color": "red"}, "data.points.0.x", "field required"),
        ({"points": [], "color": "green"}, "data.color", "expected one of ['red', 'blue'], got 'green'"),
        ({"points": [], "color": "red", "kind": "circle"}, "data.kind", "expected one of"),
        ({"points": [], "color": "red", "tags": {"a": True}}, "data.tags.a", "expected integer, got boolean"),
        ({"points": {}, "color": "red"}, "data.points", "expected array, got object"),
        ([1, 2], "data", "expected object (Shape), got array"),
        (None, "data", "expected object (Shape), got null"),
        ({"points": [], "color": "red", "parent": {"color": "red"}}, "data.parent.points", "field required"),
    ],
)
def test_dataclass_errors_name_the_place(value: Any, where: str, message: str) -> None:
    error = error_of(Shape, value)
    assert error.message.startswith(f"{where}: {message}")
    assert error.errors[0]["loc"] == where.split(".") or [
        str(p) for p in error.errors[0]["loc"]
    ] == where.split(".")


def test_typeddict_required_and_optional_keys() -> None:
    assert convert(Move, {"piece": "K", "to": [4, 5], "x": 1}) == {"piece": "K", "to": (4, 5)}
    assert error_of(Move, {"piece": "K"}).message == "data.to: field required"
    assert error_of(Move, {"piece": "K", "to": [1]}).message == "data.to: expected 2 items, got 1"
    assert convert(Maybe, {}) == {}
    assert error_of(Maybe, {"note": 3}).message == "data.note: expected string, got integer"


def test_pydantic_models_validated_by_pydantic() -> None:
    assert convert(Order, {"item": "tea", "quantity": "2"}) == Order(item="tea", quantity=2)  # lax mode
    error = error_of(Order, {"item": "tea", "quantity": 0})
    assert error.errors[0]["loc"] == ["data", "quantity"]
    assert "greater than 0" in error.message
    assert convert(list[Order], [{"item": "a", "quantity": 1}]) == [Order(item="a", quantity=1)]


def test_newtype_bytes_and_optional() -> None:
    assert convert(Owner, {"id": 3, "blob": b"\x00"}) == Owner(UserId(3), b"\x00")
    assert convert(Owner | None, None) is None
    assert error_of(Owner, {"id": 3, "blob": "x"}).message == "data.blob: expected binary or null, got string"


def test_recursive_values_too_deep_are_refused_not_crashing() -> None:
    value: dict[str, Any] = {"points": [], "color": "red"}
    for _ in range(5000):
        value = {"points": [], "color": "red", "parent": value}
    error = error_of(Shape, value)
    assert "nested too deeply" in error.message


def test_unresolvable_model_annotations_fail_at_registration() -> None:
    def handler(socket: Any, data: Broken) -> None: ...

    with pytest.raises(TypeError, match="cannot resolve the annotations of Broken"):
        HandlerSpec(handler, fixed=1)


def test_handler_spec_converts_only_typed_parameters() -> None:
    def handler(socket: Socket, order: Order, note: str, point: Point | None = None) -> None: ...

    spec = HandlerSpec(handler, fixed=1)
    assert spec.converters is not None and [i for i, _ in spec.converters] == [0, 2]
    assert spec.exact == -1
    args = spec.adapt([{"item": "x", "quantity": 1}, 5, {"x": 0, "y": 0}])
    assert args == [Order(item="x", quantity=1), 5, Point(0.0, 0.0)]
    assert spec.adapt([{"item": "x", "quantity": 1}, "n"]) == [Order(item="x", quantity=1), "n"]
    with pytest.raises(InvalidPayload):
        spec.adapt([])  # the missing required model is padded with None, which does not fit


def test_untyped_handlers_keep_the_fast_path() -> None:
    def handler(socket: Socket, data: dict[str, Any], n: int) -> None: ...

    spec = HandlerSpec(handler, fixed=1)
    assert spec.converters is None and spec.exact == 2
    received = ["a", 1]
    assert spec.adapt(received) is received
    assert HandlerSpec(lambda socket, *args: None, fixed=1).exact == -1


def test_to_plain_and_encoding_of_models() -> None:
    shape = Shape([Point(1, 2)], Color.BLUE)
    plain = to_plain(shape)
    assert plain["color"] == "blue" and plain["points"] == [{"x": 1, "y": 2, "label": ""}]
    text, attachments = encode_packet(
        SocketPacket(SocketPacketType.EVENT, "/", ["e", Order(item="a", quantity=1), (Color.RED,)])
    )
    assert text == b'2["e",{"item":"a","quantity":1},["red"]]' and attachments == []
    text, attachments = encode_packet(SocketPacket(SocketPacketType.ACK, "/", [Owner(UserId(1), b"\x01")], 4))
    assert text == b'61-4[{"id":1,"blob":{"_placeholder":true,"num":0}}]' and attachments == [b"\x01"]
    with pytest.raises(TypeError):
        encode_packet(SocketPacket(SocketPacketType.EVENT, "/", ["e", object()]))


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.text())
def test_valid_points_round_trip(x: float, y: int, label: str) -> None:
    point = convert(Point, {"x": x, "y": y, "label": label})
    assert point == Point(x, float(y), label)
    assert convert(Point, to_plain(point)) == point


def test_msgpack_parser_sends_models_as_maps() -> None:
    from socketeer.protocol.msgpack_parser import MsgpackParser
    from socketeer.protocol.socketio_packets import DecodeLimits

    parser = MsgpackParser()
    packet = SocketPacket(
        SocketPacketType.EVENT, "/", ["e", Order(item="a", quantity=2), Owner(UserId(1), b"\x02")]
    )
    message = parser.encode(packet)
    [blob] = message.binaries
    decoded = parser.decoder(DecodeLimits()).feed_binary(blob)
    assert decoded is not None
    assert decoded.data == ["e", {"item": "a", "quantity": 2}, {"id": 1, "blob": b"\x02"}]
