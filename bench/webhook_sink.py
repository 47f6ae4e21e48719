"""A minimal webhook receiver for the benchmark: answers 204 and counts webhook-ids."""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

seen: Counter[str] = Counter()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        body = json.dumps(
            {
                "total": sum(seen.values()),
                "unique": len(seen),
                "duplicates": sum(1 for c in seen.values() if c > 1),
            }
        ).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    if scope["method"] == "DELETE":
        seen.clear()
    else:
        headers = dict(scope["headers"])
        seen[headers.get(b"webhook-id", b"").decode()] += 1
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
