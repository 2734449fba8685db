#!/usr/bin/env python3
"""A REST API on 127.0.0.1 for bench/api.sh: N usage-event records in pages of P, by cursor.

    python3 bench/api_server.py --records N --page P --port PORT

GET /events[?cursor=K] answers {"data": [...records...], "meta": {"next": "K+1" | null}}. Every page is
made before the server starts listening (the time to make JSON is not the clients'), and served
from memory by a thread per connection.
"""
import argparse
import json
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def pages(records: int, size: int) -> list:
    rng = random.Random(7)
    kinds = ["Included", "Usage-based", "Errored, no charge"]
    models = ["gpt-5", "claude-4.5-sonnet", "auto", "gemini-2.5-pro"]
    out = []
    count = (records + size - 1) // size
    for p in range(count):
        data = []
        for i in range(p * size, min(records, (p + 1) * size)):
            day = 1 + i % 365
            tokens_in, tokens_out = rng.randrange(100, 90000), rng.randrange(10, 30000)
            data.append({
                "id": i,
                "created_at": f"2026-{1 + (day - 1) // 31 % 12:02d}-{1 + (day - 1) % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z",
                "user": {"id": i % 500, "email": f"user{i % 500:04d}@example.com"},
                "kind": kinds[i % 3],
                "model": models[i % 4],
                "max_mode": i % 5 == 0,
                "tokens": {"input": tokens_in, "output": tokens_out, "cache_read": tokens_in * 3},
                "cost": round(tokens_in * 1e-5 + tokens_out * 3e-5, 4),
            })
        nxt = str(p + 1) if p + 1 < count else None
        out.append(json.dumps({"data": data, "meta": {"next": nxt}}).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--page", type=int, default=10_000)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    bodies = pages(args.records, args.page)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            page = int(query.get("cursor", ["0"])[0])
            body = bodies[page] if page < len(bodies) else b'{"data": [], "meta": {"next": null}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
