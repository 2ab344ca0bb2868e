"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl on a free loopback port.

As root, initdb refuses to run, so the server runs as the ``postgres`` OS user in
a temporary folder that user owns. Usage::

    with PostgresServer.start() as server:
        url = server.create_database("t1")
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psycopg

REQUIRE_ENV = "ENVOYLOG_REQUIRE_POSTGRES"
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here (or cannot be started)."""


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for folder in reversed(candidates):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One private PostgreSQL cluster; ``stop(mode)`` and ``start_again()`` for outage tests."""

    def __init__(
        self, bin_dir: Path, root: Path, port: int, *, durable: bool = False, fsync: bool = False
    ) -> None:
        self.durable = durable
        self.fsync = fsync
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = port
        self.host = "127.0.0.1"
        self._as_user: list[str] = []
        self._frozen: list[int] = []
        self._uid: int | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root but no 'postgres' OS user") from exc
            self._as_user = ["runuser", "-u", "postgres", "--"]
            self._uid = entry.pw_uid
            os.chown(root, entry.pw_uid, entry.pw_gid)

    @classmethod
    def start(cls, *, durable: bool = False, fsync: bool = False) -> PostgresServer:
        """initdb into a new temp folder and start the server; PostgresUnavailable if impossible.

        ``durable``: a commit survives ``stop("immediate")`` (needed by crash tests); without
        it, commits are asynchronous for speed. ``fsync``: durable as a production server is,
        every commit flushed to disk (for benchmarks that must pay what an installer pays).
        """
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql)"
            )
        root = Path(tempfile.mkdtemp(prefix="envoylog-pg-"))
        root.chmod(0o700)
        server = cls(bin_dir, root, free_port(), durable=durable or fsync, fsync=fsync)
        try:
            server._run(
                "initdb",
                "-D",
                str(server.data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            )
            server.start_again()
        except BaseException:
            server.cleanup()
            raise
        return server

    def start_again(self) -> None:
        """Start (or restart after ``stop``) the server on the same port and data."""
        # fsync off is safe for a server process crash (the OS keeps the pages);
        # asynchronous commit is not, hence ``durable``.
        commit = "on" if self.durable else "off"
        flush = "on" if self.fsync else "off"
        options = (
            f"-p {self.port} -c listen_addresses={self.host} "
            f"-c unix_socket_directories={self.root} -c fsync={flush} "
            f"-c synchronous_commit={commit} -c full_page_writes={flush} -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode "immediate" is a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, walwriter...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(entry.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the server: connections stay open, the kernel still ACKs, nothing answers.

        The postmaster first, so it forks no new backend meanwhile.
        """
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self._frozen.append(pid)

    def thaw(self) -> None:
        """SIGCONT what ``freeze`` stopped."""
        while self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._frozen.pop(0), signal.SIGCONT)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE ...)."""
        with psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def sessions(self, application_name: str) -> list[int]:
        """The backends of the sessions open under this application_name."""
        with psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    def wait_closed(self, application_name: str, timeout_s: float = 10.0) -> None:
        """Wait until the server has ended every session of this application_name (a
        backend ends, and releases its locks, a moment after its client has closed)."""
        deadline = time.monotonic() + timeout_s
        while self.sessions(application_name):
            if time.monotonic() > deadline:
                raise TimeoutError(f"sessions of {application_name} still open")
            time.sleep(0.02)

    def create_database(self, name: str, template: str = "template0") -> str:
        """Create a database (copied from ``template``) and return its URL."""
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self) -> None:
        """Stop the server if it runs, and delete its folder."""
        self.thaw()
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_user, str(self.bin_dir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, f"{done.stderr}\n{tail}"
            )

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.cleanup()


def postgres_required() -> bool:
    """True when a missing PostgreSQL must fail the tests instead of skipping them (CI)."""
    return os.environ.get(REQUIRE_ENV) == "1"
