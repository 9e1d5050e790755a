"""The broker's jars from Maven Central (spot_seda/kafka/pom.xml, package data), fetched once
by Maven into a cache directory; the JVM that runs them; Kafka's own consumer-groups tool."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
TOOLS_POM = POM.with_name("tools-pom.xml")  # Kafka's command-line tools (kafka-consumer-groups ...)
DEFAULT_KAFKA_VERSION = "4.4.0"  # the pom's <kafka.version>; read from it when it is there
HOME_ENV = "SPOT_SEDA_KAFKA_HOME"
STAMP = ".spot_seda-complete"  # in lib/: the sha256 of the pom the jars were fetched with


# ---------------------------------------------------------------------------------------------
# The jars


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version the pom asks for (the default when the pom is not there)."""
    try:
        m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    except OSError:
        return DEFAULT_KAFKA_VERSION
    return m.group(1) if m else DEFAULT_KAFKA_VERSION


def kafka_home() -> Path:
    """Where the jars are cached: $SPOT_SEDA_KAFKA_HOME, else ~/.cache/spot_seda/kafka-<version>."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "spot_seda" / f"kafka-{kafka_version()}"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _complete(lib: Path, digest: str | None) -> bool:
    """lib/ holds a finished fetch (of this pom, when its digest is known)."""
    try:
        stamp = (lib / STAMP).read_text().strip()
    except OSError:
        return False
    return digest is None or stamp == digest


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def ensure_tools() -> Path:
    """Fetch the classpath of Kafka's command-line tools once (into <home>/tools) and return it."""
    return ensure_jars(TOOLS_POM, "tools")


def ensure_jars(pom: Path = POM, into: str = "lib") -> Path:
    """Fetch the broker's runtime classpath once and return the directory holding the jars.

    Idempotent and safe across processes: the fetch runs under an exclusive lock on
    `<home>/.lock`, into a temporary directory that is renamed to `<home>/lib` only once
    complete. A changed pom fetches again. Raises RuntimeError (with the command and the tail of
    Maven's output) when Maven is missing or fails.
    """
    home = kafka_home()
    lib = home / into
    digest = _pom_digest(pom) if pom.is_file() else None
    if _complete(lib, digest):
        return lib
    if digest is None:
        raise RuntimeError(f"no Kafka jars in {lib} and no {pom} to fetch them with")
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds lib/ done
        if _complete(lib, digest):
            return lib
        tmp = Path(tempfile.mkdtemp(prefix="lib.tmp-", dir=home))
        try:
            _fetch(pom, tmp)
            (tmp / STAMP).write_text(digest + "\n")
            if lib.exists():  # a fetch for another pom: move it aside, then drop it
                old = Path(tempfile.mkdtemp(prefix="lib.old-", dir=home))
                os.rename(lib, old / into)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(tmp, lib)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return lib


def _fetch(pom: Path, out: Path) -> None:
    mvn = shutil.which("mvn")
    cmd = [
        mvn or "mvn", "-B", "-ntp", "-Dstyle.color=never", "-f", str(pom),
        "dependency:copy-dependencies", f"-DoutputDirectory={out}", "-DincludeScope=runtime",
    ]
    shown = " ".join(cmd)
    if mvn is None:
        raise RuntimeError(f"cannot fetch the Kafka jars: `mvn` is not on PATH (command: {shown})")
    print(f"spot_seda: fetching the Kafka {kafka_version(pom)} jars of {pom.name} from Maven Central into "
          f"{out.parent} (once) ...", file=sys.stderr, flush=True)
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:
        out_text = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        raise RuntimeError(f"Maven timed out fetching the Kafka jars: {shown}\n{tail(out_text)}")
    if res.returncode != 0 or not any(out.glob("kafka*.jar")):
        raise RuntimeError(f"Maven failed to fetch the Kafka jars (exit {res.returncode}): "
                           f"{shown}\n{tail(res.stdout)}")


# ---------------------------------------------------------------------------------------------
# The broker


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("the Kafka broker needs Java 17 or later: no `java` on PATH or in JAVA_HOME")
    return java


def consumer_groups(args: list[str], **run) -> subprocess.CompletedProcess:
    """Kafka's own kafka-consumer-groups (ConsumerGroupCommand) with `args`, e.g.
    ["--bootstrap-server", B, "--describe", "--group", G]: what kafka-consumer-groups.sh runs."""
    cmd = [java_bin(), "-Xmx256m", "-Dlog4j2.level=WARN", "-cp", f"{ensure_tools()}/*",
           "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", *args]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, **run)
