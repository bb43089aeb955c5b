"""A real PostgreSQL server for the tests: initdb + pg_ctl into a temp folder, on a free
loopback port, with a password (so the redaction of store URLs is exercised too).

initdb and postgres refuse to run as root. As root (CI, this machine) the server's files
belong to, and its programs run as, the `postgres` OS user the Debian package creates (or
`nobody`), through subprocess's `user=`; as anyone else they run as that user.
Each test gets its own database (`new_database`), made from a template that already holds
every migration track's tables, which takes a few milliseconds.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.support import system_packages

USER = "opscopilot"
TEMPLATE = "opscopilot_template"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run initdb")


class PostgresServer:
    """One server process for the test session; `url(db)` is a connection URL."""

    def __init__(self) -> None:
        self.initdb = system_packages.require("initdb")
        self.pg_ctl = str(Path(self.initdb).with_name("pg_ctl"))
        self.password = "pw-" + secrets.token_hex(8)
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="opscopilot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user = _run_as()
        self._counter = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), user=self._user, capture_output=True, text=True, check=False, cwd=self.root
        )

    def start(self) -> PostgresServer:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        done = self._run(
            self.initdb,
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        for _attempt in range(5):  # a port found free may be taken before the server binds it
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=300 -c shared_buffers=32MB"
            )
            started = self._run(
                self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", options, "start",
            )  # fmt: skip
            if started.returncode == 0:
                break
        else:
            raise RuntimeError(f"pg_ctl start failed: {self.log_tail()}")
        self._make_template()
        return self

    def log_tail(self) -> str:
        try:
            return self.log.read_text()[-800:]
        except OSError:
            return ""

    def admin(self):
        import psycopg

        return psycopg.connect(self.url("postgres"), autocommit=True)

    def _make_template(self) -> None:
        from opscopilot.store.copy import migrate_all

        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        from opscopilot.store import db

        conn = db.open_database(self.url(TEMPLATE))
        try:
            migrate_all(conn)  # every track, so a test's database opens without migrating
        finally:
            conn.close()

    def new_database(self) -> str:
        """A fresh database with every table in place; its URL."""
        self._counter += 1
        name = f"t{os.getpid()}_{self._counter}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return self.url(name)

    def stop(self) -> None:
        if self.port:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
