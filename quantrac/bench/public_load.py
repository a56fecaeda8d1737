"""The load generator `quantrac bench public` runs as a second process: N threads, each with
its own keep-alive connection, asking a list of URLs in turn until the time is up; prints
requests per second and latency percentiles as JSON. One "request" is one pass over the
list (for InfluxDB: every statement one refresh of the latest values needs).

python -m quantrac.bench.public_load SECONDS CONCURRENCY URL [URL …]
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse


def run(urls: list[str], seconds: float, concurrency: int) -> dict:
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        u = urllib.parse.urlsplit(urls[0])
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        paths = [urllib.parse.urlsplit(x)._replace(scheme="", netloc="").geturl() for x in urls]
        start.wait()
        while time.monotonic() < stop_at[0]:
            t0 = time.perf_counter()
            ok = True
            for path in paths:
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    resp.read()
                    ok = ok and resp.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            if ok:
                lat[i].append(time.perf_counter() - t0)
            else:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + seconds
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    all_lat = sorted(x for part in lat for x in part)

    def pct(p: float) -> float | None:
        if not all_lat:
            return None
        return round(all_lat[min(len(all_lat) - 1, int(p * len(all_lat)))] * 1000, 2)

    return {"requests": len(all_lat), "errors": sum(errors), "seconds": round(elapsed, 2),
            "rps": round(len(all_lat) / elapsed, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "concurrency": concurrency}


if __name__ == "__main__":
    secs, conc, *targets = sys.argv[1:]
    print(json.dumps(run(targets, float(secs), int(conc))))
