"""``inprod quickstart --serve`` leaves the story's server running — the API and the dashboard —
until Ctrl-C, then stops it gracefully."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from inprod.quickstart.live import free_port

TIMEOUT_S = 180


def test_serve_keeps_the_server_and_the_dashboard_up_until_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPROD_")}
    env |= {"INPROD_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", "from inprod.cli import main; main()", "quickstart", "--images",
         "150", "--requests", "50", "--no-rollout", "--no-drift", "--serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if "the dashboard:" in line:
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(TIMEOUT_S), "".join(lines)
        url = re.search(r"the dashboard: (http://127\.0\.0\.1:\d+)/ui", "".join(lines))
        assert url is not None and url.group(1) == f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url.group(1), timeout=10) as client:
            assert client.get("/readyz").status_code == 200
            page = client.get("/ui/")  # loopback without --auth: no login
            assert page.status_code == 200 and "phone-inspector" in page.text
            answer = client.post("/v1/endpoints/phone-inspector/predict",
                                 json={"instances": [[0.5] * 1024]})  # fmt: skip
            assert answer.status_code == 200, answer.text
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
        reader.join(10)
        assert "stopping" in "".join(lines)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join(10)
        assert child.stdout is not None
        child.stdout.close()
