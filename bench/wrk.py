"""wrk drivers for the load test: closed-loop (maximum throughput) and fixed-rate (latency at a given load).

Closed loop (`closed_loop`): every connection sends its next request as soon as the previous answer arrives,
so the server runs flat out; the figure is the maximum throughput. Latency then is queueing, not service time:
by Little's law the mean latency is connections / throughput (16 connections at 1,500 req/s: 10.7 ms), so a
closed-loop p99 says little about latency at a given load.

Fixed rate (`fixed_rate`): each connection sends on its own schedule, one request every
`connections / rate` seconds (phases spread over the interval), through wrk's Lua `delay()` hook; wrk runs one
thread per connection, so each Lua state serves exactly one connection. A request whose slot passed while the
connection waited for the previous answer goes out at once and counts as `late`; its latency is measured from
the slot, not from when it could be sent (so a stall is charged to every request it delays, as an open-loop
client would see it: no coordinated omission). The offered rate holds as long as the server keeps up: a
saturated server shows as an achieved rate below the target and a growing latency. wrk's own latency figures
(from the actual send, `wrk_p50_ms`...) are kept for comparison.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MISSING = (
    "wrk (the HTTP load generator) is not installed: run `make bench`, which installs it, or "
    "`sudo apt-get install -y wrk`"
)

CLOSED_LUA = """
local queries = {%(queries)s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "%(path)s" .. queries[(i %% #queries) + 1])
end
"""

FIXED_RATE_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } mmwe_timespec;
int clock_gettime(int clk_id, mmwe_timespec *tp);
]]
local ts = ffi.new("mmwe_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local queries = {%(queries)s}
local interval = %(interval_us)f  -- microseconds between two requests of one connection
local threads, started = {}, 0

function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end

local due, sent, i = nil, 0, 0
latencies, starts, late, failed = {}, {}, 0, 0

function delay()
  local now = now_us()
  if due == nil then
    due = now + interval * id / %(connections)d
  else
    due = due + interval
  end
  local wait = due - now
  if wait <= 0 then
    late = late + 1
    return 0
  end
  return math.floor(wait / 1000)  -- wrk's timers count whole milliseconds: never send after the slot
end

request = function()
  i = i + 1
  sent = now_us()
  local pick = queries[((i + id * 37) %% #queries) + 1]
  return %(request)s
end

function response(status, headers, body)
  starts[#starts + 1] = math.min(sent, due)
  latencies[#latencies + 1] = now_us() - starts[#starts]
  if status < 200 or status > 299 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local out = io.open("%(out)s", "w")
  local all, late_total, failed_total = {}, 0, 0
  for _, t in ipairs(threads) do
    local starts = t:get("starts")
    for j, v in ipairs(t:get("latencies")) do
      all[#all + 1] = string.format("%%.1f %%.1f", v, starts[j])
    end
    late_total = late_total + t:get("late")
    failed_total = failed_total + t:get("failed")
  end
  out:write(table.concat(all, "\\n"), "\\n")
  out:close()
  io.write(string.format("fixed-rate: late %%d failed %%d\\n", late_total, failed_total))
end
"""


def lua_queries(queries: list[str]) -> str:
    return ",".join(json.dumps(q.replace(" ", "+")) for q in queries)


def parse_wrk(text: str) -> dict[str, Any]:
    def seconds(value: str, unit: str) -> float:
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["req_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        out[f"p{pct}_ms"] = round(seconds(m.group(1), m.group(2)) * 1e3, 3) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    sock = sum(int(g) for g in m.groups()) if m else 0
    out["non_2xx"], out["socket_errors"] = non2xx, sock
    out["errors"] = non2xx + sock
    return out


def _run(
    script: str, args: list[str], base: str, server_cpu: Callable[[], float], nice: int = 0
) -> tuple[str, dict[str, Any]]:
    """Run wrk with `script` (at `nice`, when not 0); (stdout, generator and server CPU figures)."""
    if shutil.which("wrk") is None:
        raise SystemExit(MISSING)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server_cpu()
    command = ["wrk", *args, "--latency", "-s", f.name, base]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    try:
        res = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = server_cpu() - server_before
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res.stdout, {"generator_cpu_s": cpu, "server_cpu_s": server}


def _per_request(out: dict[str, Any], cpu: dict[str, Any]) -> None:
    n = out["requests"]
    for key, seconds in cpu.items():
        out[key] = round(seconds, 2)
        out[key.replace("_s", "_us_per_request")] = round(seconds / n * 1e6, 1) if n else None
    out["load_average_1min"] = round(os.getloadavg()[0], 2)


def closed_loop(
    base: str,
    path: str,
    queries: list[str],
    connections: int,
    duration: int,
    threads: int,
    server_cpu: Callable[[], float],
) -> dict[str, Any]:
    """Maximum throughput: `connections` connections, each sending as soon as it has its answer."""
    script = CLOSED_LUA % {"queries": lua_queries(queries), "path": path}
    stdout, cpu = _run(script, [f"-t{threads}", f"-c{connections}", f"-d{duration}s"], base, server_cpu)
    out = {"mode": "closed_loop", **parse_wrk(stdout), "connections": connections, "duration_s": duration}
    _per_request(out, cpu)
    return out


def fixed_rate(
    base: str,
    path: str,
    queries: list[str],
    connections: int,
    rate: float,
    duration: int,
    server_cpu: Callable[[], float],
    window_s: float | None = None,
    origin: float | None = None,
    post_json: bool = False,
    nice: int = 0,
    latencies: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Latency at an offered load of `rate` req/s over `connections` connections (see the module).

    With `window_s`, also `windows`: count, p50, p99 and max of the requests scheduled in each window of that
    many seconds from `origin` (a `time.monotonic()` value, the same clock as wrk's; default: the first
    request), so that latency can be lined up with events during the run. With `post_json`, `queries` are
    JSON bodies (ASCII) POSTed to `path`; a request counts as failed unless answered 2xx. `nice`: wrk's
    scheduling priority (e.g. 10: it yields the CPU to the server). `latencies`: each request's latency (ms)
    is appended there as one array, to pool several runs' percentiles."""
    if post_json:
        bodies = ",".join(json.dumps(q) for q in queries)
        request = f'wrk.format("POST", "{path}", {{["Content-Type"] = "application/json"}}, pick)'
    else:
        bodies, request = lua_queries(queries), f'wrk.format("GET", "{path}" .. pick)'
    with tempfile.TemporaryDirectory() as tmp:
        lat_file = Path(tmp) / "latencies.txt"
        script = FIXED_RATE_LUA % {
            "queries": bodies,
            "request": request,
            "interval_us": connections / rate * 1e6,
            "connections": connections,
            "out": str(lat_file),
        }
        args = [f"-t{connections}", f"-c{connections}", f"-d{duration}s"]
        stdout, cpu = _run(script, args, base, server_cpu, nice)
        rows = np.loadtxt(lat_file, ndmin=2)  # (requests, 2): latency, scheduled time (us, CLOCK_MONOTONIC)
    lat_ms = rows[:, 0] / 1e3
    if latencies is not None:
        latencies.append(lat_ms)
    wrk = parse_wrk(stdout)
    m = re.search(r"fixed-rate: late (\d+) failed (\d+)", stdout)
    late, failed = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    out: dict[str, Any] = {
        "mode": "fixed_rate",
        "target_req_per_s": rate,
        "req_per_s": wrk["req_per_s"],
        "requests": wrk["requests"],
    }
    for pct in (50, 90, 99, 99.9):
        out[f"p{pct:g}_ms".replace(".", "_")] = round(float(np.percentile(lat_ms, pct)), 3)
    out["max_ms"] = round(float(lat_ms.max()), 3)
    out["late_requests"] = late  # sent after their slot (the connection was still waiting for an answer)
    out["errors"] = wrk["errors"]  # socket errors and statuses above 399, as wrk counts them
    out["non_2xx"], out["socket_errors"] = wrk["non_2xx"], wrk["socket_errors"]  # (timeouts: 2 s, wrk's)
    out["non_200"] = failed
    out.update({f"wrk_{k}": wrk[k] for k in ("p50_ms", "p90_ms", "p99_ms")})
    out["connections"], out["duration_s"] = connections, duration
    _per_request(out, cpu)
    if window_s:
        out["windows"] = windows(lat_ms, rows[:, 1] / 1e6, window_s, origin)
    return out


def windows(
    lat_ms: np.ndarray, start_s: np.ndarray, window_s: float, origin: float | None
) -> list[dict[str, Any]]:
    """Latency figures of the requests scheduled in each `window_s` window from `origin` (seconds)."""
    at = start_s - (start_s.min() if origin is None else origin)
    slot = np.floor(at / window_s).astype(np.int64)
    out = []
    for w in np.unique(slot):
        lat = lat_ms[slot == w]
        out.append(
            {
                "t_s": round(float(w * window_s), 3),
                "requests": int(lat.size),
                "p50_ms": round(float(np.percentile(lat, 50)), 2),
                "p99_ms": round(float(np.percentile(lat, 99)), 2),
                "max_ms": round(float(lat.max()), 2),
            }
        )
    return out
