"""The 400 handler answers as before and leaves no reference cycle holding the request's
frames: they are freed when the request ends, not at the cyclic collector's next pass."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from agenthost.server._validation import drop_tracebacks, validation_error

from .conftest import Users


class Marker:
    """A local of the frame that raises: alive as long as that frame is."""


_refs: list[weakref.ref[Marker]] = []
_router = APIRouter()


@_router.post("/test/decode")
async def decode(request: Request) -> dict[str, Any]:
    marker = Marker()
    _refs.append(weakref.ref(marker))
    try:
        return {"got": json.loads(await request.body())}
    except json.JSONDecodeError as exc:
        # as FastAPI's own body parsing: the error in a local, raised from the decoder's
        error = RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        )
        raise error from exc


@pytest.fixture
def app_options() -> dict[str, Any]:
    return {"extra_routers": [_router]}


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No cyclic collection during the test: what is freed is freed by reference counts."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_the_400_frees_the_raising_frame_with_the_response(
    users: Users, collector_off: None
) -> None:
    _refs.clear()
    r = await users.alice.post(
        "/test/decode", content=b'{"a": ', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    error = RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", 6),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting value"},
            }
        ]
    )
    assert r.content == validation_error(error, "application/json")[1]  # the answer as before
    assert len(_refs) == 1
    assert _refs[0]() is None  # the frame and its locals are gone, without a collection


async def test_fastapis_own_json_errors_leave_no_frames_to_collect(
    users: Users, collector_off: None
) -> None:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        r = await users.alice.post(
            "/v1/chat/completions",
            content=b'{"model": "helper",',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_json"
        gc.collect()
        left = [
            o
            for o in gc.garbage
            if type(o).__name__ == "frame" and "fastapi" in o.f_code.co_filename
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


def test_drop_tracebacks_clears_the_chain_and_the_errors_exceptions() -> None:
    def fail(exc: BaseException) -> BaseException:
        try:
            raise exc
        except BaseException as caught:
            return caught

    inner = fail(ValueError("bad value"))
    cause = fail(KeyError("k"))
    error = RequestValidationError(
        [{"type": "value_error", "loc": ("body", "a"), "msg": "m", "ctx": {"error": inner}}]
    )
    try:
        try:
            raise cause
        except KeyError as exc:
            raise error from exc
    except RequestValidationError:
        pass
    assert error.__traceback__ is not None and cause.__traceback__ is not None
    drop_tracebacks(error)
    assert error.__traceback__ is None
    assert cause.__traceback__ is None
    assert inner.__traceback__ is None
