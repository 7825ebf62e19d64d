"""A fast loopback webhook receiver for the benchmarks (asyncio, keep-alive, HTTP/1.1).

`python bench/_receiver.py PORT [SECRET]` answers every POST 200 with an empty body and counts
it; `GET /count` answers `{"total", "distinct", "bad_signatures", "first", "last"}` (times are
time.time() of the first and last POST; with a SECRET every body's signature is checked)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

STATE = {"total": 0, "bad_signatures": 0, "first": 0.0, "last": 0.0}
IDS: set[bytes] = set()
ARRIVALS: dict[str, float] = {}  # order_id -> first arrival (alert latency benchmark)


def _headers(head: bytes) -> dict[bytes, bytes]:
    found = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        found[name.strip().lower()] = value.strip()
    return found


def _post(headers: dict[bytes, bytes], body: bytes, secret: str | None) -> None:
    now = time.time()
    STATE["total"] += 1
    STATE["first"] = STATE["first"] or now
    STATE["last"] = now
    IDS.add(headers.get(b"webhook-id", b""))
    if secret is not None:
        from tracker.webhooks import verify

        plain = {k.decode(): v.decode() for k, v in headers.items()}
        if not verify(secret, plain, body, now):
            STATE["bad_signatures"] += 1
        order = json.loads(body).get("data", {}).get("order_id")
        if order is not None:
            ARRIVALS.setdefault(order, now)


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: str | None
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = _headers(head)
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            answer = b""
            if head.startswith(b"GET /count"):
                answer = json.dumps({**STATE, "distinct": len(IDS), "arrivals": ARRIVALS}).encode()
            else:
                _post(headers, body, secret)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer))
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, secret: str | None) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, secret), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
