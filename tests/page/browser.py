"""Headless Chromium for the page tests: Debian's package, installed with apt-get on first use.

Playwright (the `dev` extra) drives the browser, but it cannot download its own builds here (no
route to its CDN), so it is pointed at Debian's `chromium` package instead. As the Kafka tests fetch
their broker's jars on their first run (spot_seda/kafka_broker/), the first page test on a fresh
machine installs that package (`apt-get update && apt-get install -y chromium`, a few minutes, as
root) and later runs find it in place. When it cannot be installed the tests fail, saying why and
what to do: they are never skipped silently.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Debian's binary; SPOT_SEDA_CHROMIUM names another Chromium/Chrome build
CHROMIUM = Path(os.environ.get("SPOT_SEDA_CHROMIUM", "/usr/bin/chromium"))
INSTALL_TIMEOUT_S = 900


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def ensure_chromium() -> str:
    """The Chromium binary to drive, installing Debian's package first when it is missing.

    Raises RuntimeError with the reason and the command to run by hand when it cannot be had."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    # the suite runs on two workers (pytest-xdist): one installs, the other waits here, then finds it
    with open(Path(tempfile.gettempdir()) / "spot_seda-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return str(CHROMIUM) if CHROMIUM.exists() else _install()


def _install() -> str:
    hint = ("the page tests drive Debian's Chromium; install it with "
            "`apt-get update && apt-get install -y chromium` (as root), or point SPOT_SEDA_CHROMIUM at a "
            "Chromium or Chrome binary")
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError(f"no {CHROMIUM} and no apt-get to install it: {hint}")
    sudo: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise RuntimeError(f"no {CHROMIUM}, and installing it needs root (no sudo here): {hint}")
        sudo = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([*sudo, apt, "update"], [*sudo, apt, "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`{' '.join(cmd)}` took over {INSTALL_TIMEOUT_S} s: {hint}") from None
        if res.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {res.returncode}):\n{_tail(res.stdout)}\n{hint}")
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed chromium but {CHROMIUM} is still missing: {hint}")
    return str(CHROMIUM)


if __name__ == "__main__":
    print(ensure_chromium())
