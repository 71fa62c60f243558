"""An HTTP client the real-engine tests run inside the cluster's network namespace (where the
Gateways' load-balancer addresses exist), printing what it got as JSON on stdout.

    python traffic_client.py once ADDRESS PORT HOST PATH
        one GET: {"status": 200, "body": {...echo JSON...} or "text"}
    python traffic_client.py steady ADDRESS PORT HOST PATH STOP_FILE MAX_REQUESTS MAX_SECONDS
        GETs one after the other until STOP_FILE exists, MAX_REQUESTS were sent or MAX_SECONDS
        passed (bounded either way): {"sent": n, "failed": n, "failures": [first ten], "seconds": s}

Standard library only; every request goes to ADDRESS, an address of the cluster's namespace.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time


def get(address: str, port: int, host: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def once(address: str, port: str, host: str, path: str) -> dict:
    status, text = get(address, int(port), host, path)
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    return {"status": status, "body": body}


def steady(address: str, port: str, host: str, path: str, stop_file: str, max_requests: str, max_seconds: str) -> dict:
    started = time.monotonic()
    sent = failed = 0
    failures: list[str] = []
    while sent < int(max_requests) and time.monotonic() - started < float(max_seconds) and not os.path.exists(stop_file):
        sent += 1
        try:
            status, _ = get(address, int(port), host, path)
            problem = None if status == 200 else f"request {sent}: status {status}"
        except OSError as error:
            problem = f"request {sent}: {error!r}"
        if problem:
            failed += 1
            if len(failures) < 10:
                failures.append(problem)
        time.sleep(0.02)
    return {"sent": sent, "failed": failed, "failures": failures, "seconds": round(time.monotonic() - started, 1)}


if __name__ == "__main__":
    mode, *arguments = sys.argv[1:]
    print(json.dumps({"once": once, "steady": steady}[mode](*arguments)), flush=True)
