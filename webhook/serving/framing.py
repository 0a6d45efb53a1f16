"""Where an HTTP/1.1 request ends in the bytes received so far: the server's front stage reads a request
without holding a thread, and hands it to one only once it is all there (`webhook.serving.worker`).

`Framer` looks at a connection's buffer as it grows and says `MORE` (wait for more bytes), `COMPLETE`
(the request head and its whole body are in the first `size` bytes), `DISPATCH` (hand over as it is:
the head is malformed, and gunicorn's parser answers 400 from the bytes already there) or `REFUSE`
with a `status` (431: the head is too large; 413: the body is, by its length or a chunk's), which the
server answers itself, since reading on would let a slow sender hold a thread. It does not
validate the request (gunicorn's parser does); it only frames it, the way that parser will, so that
whatever it calls complete is exactly one request. Incremental: each call costs the new bytes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MORE: Final = "more"
COMPLETE: Final = "complete"
DISPATCH: Final = "dispatch"
REFUSE: Final = "refuse"
# A chunk-size line longer than this is malformed (gunicorn allows 8190 bytes).
MAX_CHUNK_LINE: Final = 8192


@dataclass(frozen=True)
class Framing:
    state: str
    method: str = ""
    path: str = ""
    size: int = 0  # COMPLETE: bytes of the request (head and body); anything after is the next request
    expects_continue: bool = False  # the client waits for `100 Continue` before it sends the body
    status: int = 0  # REFUSE: 413 or 431


class Framer:
    """Frames one request at a time of a connection's buffer (`reset` after each)."""

    def __init__(self, max_head: int, max_body: int) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self.reset()

    def reset(self) -> None:
        self._head: Framing | None = None
        self._head_end = 0
        self._length: int | None = None
        self._chunked = False
        self._pos = 0  # chunked: where the next chunk-size line starts
        self._body = 0  # chunked: body bytes seen so far

    def frame(self, buffer: bytes | bytearray) -> Framing:
        if self._head is None:
            found = self._parse_head(buffer)
            if found is not None:
                return found
        assert self._head is not None
        head = self._head
        if self._chunked:
            return self._frame_chunks(buffer, head)
        end = self._head_end + (self._length or 0)
        if len(buffer) >= end:
            return Framing(COMPLETE, head.method, head.path, end)
        return Framing(MORE, head.method, head.path, expects_continue=head.expects_continue)

    def _parse_head(self, buffer: bytes | bytearray) -> Framing | None:
        """Reads the head once it is complete; a Framing to return now, or None to go on to the body."""
        end = bytes(buffer[: self.max_head + 4]).find(b"\r\n\r\n")
        if end < 0:
            return Framing(REFUSE, status=431) if len(buffer) > self.max_head else Framing(MORE)
        lines = bytes(buffer[:end]).split(b"\r\n")
        parts = lines[0].split(b" ")
        method = parts[0].decode("latin-1") if parts else ""
        path = parts[1].split(b"?", 1)[0].decode("latin-1") if len(parts) > 1 else ""
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
        expects = [v.lower() for v in fields.get(b"expect", [])] == [b"100-continue"]
        self._head = Framing(MORE, method, path, expects_continue=expects)
        self._head_end = end + 4
        codings = b",".join(fields.get(b"transfer-encoding", [])).lower()
        lengths = fields.get(b"content-length", [])
        if codings:
            if lengths or [c.strip() for c in codings.split(b",")] != [b"chunked"]:
                return Framing(DISPATCH, method, path)  # the parser refuses these (or they are unbounded)
            self._chunked, self._pos = True, self._head_end
            return None
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            return Framing(DISPATCH, method, path)
        self._length = int(lengths[0]) if lengths else 0
        if self._length > self.max_body:
            return Framing(REFUSE, method, path, status=413)
        return None

    def _frame_chunks(self, buffer: bytes | bytearray, head: Framing) -> Framing:
        more = Framing(MORE, head.method, head.path, expects_continue=head.expects_continue)
        while True:
            eol = bytes(buffer[self._pos : self._pos + MAX_CHUNK_LINE + 2]).find(b"\r\n")
            if eol < 0:
                return Framing(DISPATCH, head.method, head.path) if len(buffer) - self._pos > MAX_CHUNK_LINE else more
            line = bytes(buffer[self._pos : self._pos + eol]).split(b";", 1)[0].strip()
            if not line or any(c not in b"0123456789abcdefABCDEF" for c in line):
                return Framing(DISPATCH, head.method, head.path)
            size = int(line, 16)
            start = self._pos + eol + 2
            if size == 0:
                # the last chunk, then trailer fields, then an empty line
                if bytes(buffer[start : start + 2]) == b"\r\n":
                    return Framing(COMPLETE, head.method, head.path, start + 2)
                end = bytes(buffer[start : start + self.max_head]).find(b"\r\n\r\n")
                if end >= 0:
                    return Framing(COMPLETE, head.method, head.path, start + end + 4)
                too_long = len(buffer) - start > self.max_head
                return Framing(REFUSE, head.method, head.path, status=431) if too_long else more
            if self._body + size > self.max_body:
                return Framing(REFUSE, head.method, head.path, status=413)
            if len(buffer) < start + size + 2:
                return more
            if bytes(buffer[start + size : start + size + 2]) != b"\r\n":
                return Framing(DISPATCH, head.method, head.path)
            self._body += size
            self._pos = start + size + 2
