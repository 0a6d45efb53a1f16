"""Framing a request in the bytes received so far: more, complete (and where it ends), or dispatch as is."""

from __future__ import annotations

import pytest

from webhook.serving.framing import COMPLETE, DISPATCH, MORE, REFUSE, Framer

HEAD = b"POST /validate?timeout=5s HTTP/1.1\r\nHost: x\r\n"


def frame(data: bytes, max_body: int = 1000) -> tuple[str, int]:
    found = Framer(max_head=200, max_body=max_body).frame(data)
    return found.state, found.status if found.state == REFUSE else found.size


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", (MORE, 0)),
        (b"POST /validate HTT", (MORE, 0)),
        (HEAD + b"Content-Length: 2\r\n\r\n{", (MORE, 0)),
        (HEAD + b"Content-Length: 2\r\n\r\n{}", (COMPLETE, len(HEAD) + 23)),
        (HEAD + b"Content-Length: 2\r\n\r\n{}GET /", (COMPLETE, len(HEAD) + 23)),  # a pipelined one follows
        (b"GET /healthz HTTP/1.1\r\n\r\n", (COMPLETE, 25)),
        (HEAD + b"content-length:  0 \r\n\r\n", (COMPLETE, len(HEAD) + 23)),
        (HEAD + b"Content-Length: 2000\r\n\r\n", (REFUSE, 413)),  # over the limit, whatever follows
        (HEAD + b"Content-Length: x\r\n\r\n", (DISPATCH, 0)),
        (HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", (DISPATCH, 0)),
        (HEAD + b"Transfer-Encoding: gzip\r\n\r\n", (DISPATCH, 0)),
        (HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", (DISPATCH, 0)),
        (b"x" * 300, (REFUSE, 431)),  # a head over the limit
    ],
)
def test_frame(data, expected):
    assert frame(data) == expected


CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"2\r\n{}\r\n0\r\n\r\n", COMPLETE),
        (b"2;ext=1\r\n{}\r\n1\r\n \r\n0\r\nTrailer: t\r\n\r\n", COMPLETE),
        (b"2\r\n{}\r\n", MORE),
        (b"2\r\n{", MORE),
        (b"zz\r\n{}\r\n0\r\n\r\n", DISPATCH),
        (b"2\r\n{}XX0\r\n\r\n", DISPATCH),
        (b"fffff\r\n", REFUSE),  # over the body limit
    ],
)
def test_frame_chunked(body, expected):
    state, size = frame(CHUNKED + body)
    assert state == expected
    if state == COMPLETE:
        assert size == len(CHUNKED + body)


def test_framing_is_incremental_and_resets_for_the_next_request():
    framer = Framer(max_head=200, max_body=1000)
    data = HEAD + b"Content-Length: 4\r\n\r\n"
    assert framer.frame(data).state == MORE
    assert framer.frame(data + b"{}").state == MORE
    done = framer.frame(data + b"{}{}")
    assert (done.state, done.method, done.path) == (COMPLETE, "POST", "/validate")
    framer.reset()
    assert framer.frame(b"GET /readyz HTTP/1.1\r\n\r\n").path == "/readyz"


def test_a_client_expecting_100_continue_is_told_so():
    found = Framer(200, 1000).frame(HEAD + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert found.state == MORE and found.expects_continue
