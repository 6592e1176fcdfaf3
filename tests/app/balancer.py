"""nginx (Debian's, `make system-deps-test` installs nginx-light) as the load balancer in front of replicas
started by a test or a bench, configured with the deployment's own proxy settings (deploy/nginx-proxy.conf):
round-robin over fixed 127.0.0.1 ports, retry on the next replica when one is down or answers 502/503.

`with balancer(tmp_path, [8001, 8002, 8003]) as url: ...` runs `nginx -p TMP -c TMP/nginx.conf` in the
foreground and stops it on exit.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROXY_CONF = ROOT / "deploy" / "nginx-proxy.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )


def config(work: Path, listen: int, upstreams: list[int], workers: int = 1) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
    temp = "\n".join(
        f"    {kind}_temp_path {work / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes {workers};
daemon off;
pid {work / "nginx.pid"};
error_log {work / "error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
{temp}
    upstream api {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://api;
            include {PROXY_CONF};
        }}
    }}
}}
"""


@contextlib.contextmanager
def balancer(work: Path, upstreams: list[int], workers: int = 1) -> Iterator[str]:
    """nginx on a free port in front of `upstreams`; yields its URL."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (`make system-deps-test` installs nginx-light)")
    work.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = work / "nginx.conf"
    conf.write_text(config(work, port, upstreams, workers), encoding="utf-8")
    log = open(work / "nginx.out", "wb")  # noqa: SIM115 (closed below, after the process)
    proc = subprocess.Popen(
        [binary, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {(work / 'error.log').read_text(errors='replace')[-2000:]}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen within 10 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()  # SIGTERM: fast shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
