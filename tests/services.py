"""Throwaway real servers for the test suite and the benchmarks.

Every server binds to ``127.0.0.1`` on a free port, keeps its files under a
directory chosen by the caller (typically from ``tmp_path_factory``), and is
removed completely by :meth:`stop`.  The module deliberately has no pytest
dependency so that benchmarks can reuse it::

    with PostgresServer(tmp / "pg") as pg, RedisServer(tmp / "redis") as redis:
        engine = sqlalchemy.create_engine(pg.create_database("bench"))
        ...

Classes
-------
* :class:`PostgresServer` - ``initdb`` + ``postgres`` from
  ``/usr/lib/postgresql/<newest>/bin``; ``url`` is a SQLAlchemy URL.
* :class:`RedisServer` - ``redis-server`` without persistence.
* :class:`DovecotServer` - IMAP only, plaintext LOGIN, passwd-file users,
  maildir storage.
* :class:`SmtpSink` - an in-process aiosmtpd server that records messages.

All of them are context managers; ``start()`` returns ``self``.  A server that
fails to start raises :class:`ServerStartError` whose message includes the
tail of the server's log.

Root and privilege handling (Linux only)
----------------------------------------
PostgreSQL refuses to run as root, and Dovecot drops privileges for its login,
auth and mail processes.  Those unprivileged users cannot traverse pytest's
private ``/tmp/pytest-of-root`` (mode 0700), so when running as root, the
*runtime* files of PostgreSQL and Dovecot (data directory, sockets, maildirs)
live in a private ``/tmp/hd-<kind>-XXXX`` directory that is deleted by
``stop()``; a symlink to it is left in the caller's directory while the server
runs.  Logs are always written in the caller's directory so they survive for
post-mortem inspection.  The same short ``/tmp`` directory is used when the
caller's directory is too long for unix socket paths (108 bytes).

Server processes are started in their own session (so a Ctrl-C in the terminal
reaches pytest, which then stops them in order) and with a parent-death signal,
so that they die with the Python process even if it is SIGKILLed.  Note that
Linux delivers that signal when the *thread* that started the server exits:
start servers from a long-lived thread (pytest fixtures run in the main
thread), or pass ``die_with_parent=False``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import email.policy
import errno
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

__all__ = [
    "DovecotServer",
    "PostgresServer",
    "ReceivedMessage",
    "RedisServer",
    "ServerStartError",
    "SmtpSink",
    "dovecot_version",
    "free_port",
    "postgres_bindir",
]

HOST = "127.0.0.1"
_LOG_TAIL_LINES = 40
_MAX_PORT_ATTEMPTS = 4
# Unix socket paths are limited to 108 bytes; leave room for the file names.
_MAX_RUNTIME_PATH = 60


class ServerStartError(RuntimeError):
    """A throwaway server could not be started; the message has the log tail."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that is free right now.

    Another process may grab it before the caller binds it; the server classes
    therefore retry with a new port when binding fails with "address in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_live_servers: set[_Stoppable] = set()
_live_lock = threading.Lock()


def _register(server: _Stoppable) -> None:
    with _live_lock:
        _live_servers.add(server)


def _unregister(server: _Stoppable) -> None:
    with _live_lock:
        _live_servers.discard(server)


@atexit.register
def _stop_all_servers() -> None:
    """Safety net: stop servers whose owner forgot to call ``stop()``."""
    with _live_lock:
        servers = list(_live_servers)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


_PR_SET_PDEATHSIG = 1
_libc: Any = None


def _preexec(die_with_parent: bool, death_signal: int) -> Callable[[], None] | None:
    """Build a ``preexec_fn`` that makes the child die with its parent."""
    global _libc
    if not die_with_parent or os.uname().sysname != "Linux":
        return None
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    libc = _libc
    parent = os.getpid()

    def preexec() -> None:
        # Runs in the child after fork (and after the uid switch), before exec.
        libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl()
            os.kill(os.getpid(), death_signal)

    return preexec


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def _looks_like_port_clash(path: Path) -> bool:
    text = _log_tail(path, 200).lower()
    return "address already in use" in text or "address in use" in text


def _user_ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _is_root() -> bool:
    return os.geteuid() == 0


def _runtime_dir(directory: Path, kind: str, *, force_sidecar: bool) -> Path:
    """Return an empty directory for a server's runtime files.

    It is ``directory / kind`` unless ``force_sidecar`` or that path is too
    long for unix sockets, in which case a fresh ``/tmp/hd-<kind>-XXXX`` is
    created and ``directory / kind`` becomes a symlink to it.
    """
    wanted = directory / kind
    if wanted.is_symlink() or wanted.exists():
        raise ServerStartError(f"{wanted} already exists; give each server its own directory")
    if not force_sidecar and len(str(wanted)) <= _MAX_RUNTIME_PATH:
        wanted.mkdir()
        return wanted
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    _sweep_stale_sidecars(base)
    sidecar = Path(tempfile.mkdtemp(prefix=f"hd-{kind}-", dir=base))
    (sidecar / _OWNER_FILE).write_text(str(os.getpid()))
    wanted.symlink_to(sidecar, target_is_directory=True)
    return sidecar


_OWNER_FILE = ".owner-pid"


def _sweep_stale_sidecars(base: Path) -> None:
    """Delete ``hd-*`` runtime directories left behind by killed processes."""
    for candidate in base.glob("hd-*-*"):
        try:
            owner = int((candidate / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


def _remove_runtime_dir(directory: Path, kind: str, runtime: Path | None) -> None:
    link = directory / kind
    if runtime is not None and runtime != link:
        shutil.rmtree(runtime, ignore_errors=True)
        with contextlib.suppress(OSError):
            if link.is_symlink():
                link.unlink()
    elif runtime is not None:
        shutil.rmtree(runtime, ignore_errors=True)


def _terminate(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 15.0) -> None:
    """Send ``sig``, wait, and escalate to SIGKILL if the process lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)


class _ProcessServer:
    """Common life cycle for servers that run as a child process."""

    kind = "server"
    stop_signal: int = signal.SIGTERM

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        startup_timeout: float,
        die_with_parent: bool,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.host = HOST
        self.port = 0
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        self.log_path = self.directory / f"{self.kind}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- hooks ---------------------------------------------------------------
    def _prepare(self) -> None:
        """Create files that do not depend on the port (runs once)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _popen_kwargs(self) -> dict[str, Any]:
        return {}

    def _probe(self) -> bool:
        """Return True once the server answers; raise for definitive errors."""
        raise NotImplementedError

    def _cleanup(self) -> None:
        """Remove runtime files after the process has exited."""

    # -- life cycle ----------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError(f"{self.kind} server already started")
        self.directory.mkdir(parents=True, exist_ok=True)
        _register(self)
        try:
            self._prepare()
            for attempt in range(1, _MAX_PORT_ATTEMPTS + 1):
                self.port = free_port(self.host)
                try:
                    self._launch_and_wait()
                    return self
                except ServerStartError:
                    self._kill_process()
                    if attempt < _MAX_PORT_ATTEMPTS and _looks_like_port_clash(self.log_path):
                        continue
                    raise
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def _launch_and_wait(self) -> None:
        log = self.log_path.open("ab")
        self._log_file = log
        log.write(f"--- starting {self.kind} on {self.host}:{self.port} ---\n".encode())
        log.flush()
        cmd = self._command()
        kwargs: dict[str, Any] = {
            "stdin": subprocess.DEVNULL,
            "stdout": log,
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
            "preexec_fn": _preexec(self.die_with_parent, self.stop_signal),
        }
        kwargs.update(self._popen_kwargs())
        try:
            self._proc = subprocess.Popen(cmd, **kwargs)
        except OSError as exc:
            raise ServerStartError(f"cannot run {cmd[0]}: {exc}") from exc
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise self._start_error(f"exited with status {code} during startup")
            try:
                if self._probe():
                    return
            except ServerStartError:
                raise
            except Exception as exc:  # not ready yet
                last_error = exc
            if time.monotonic() > deadline:
                detail = f" (last probe error: {last_error!r})" if last_error else ""
                raise self._start_error(
                    f"did not become ready within {self.startup_timeout:g}s{detail}"
                )
            time.sleep(0.05)

    def _start_error(self, what: str) -> ServerStartError:
        if self._log_file is not None:
            self._log_file.flush()
        return ServerStartError(
            f"{self.kind} on {self.host}:{self.port} {what}.\n"
            f"Command: {' '.join(self._command())}\n"
            f"Last lines of {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def _kill_process(self) -> None:
        _terminate(self._proc, self.stop_signal)
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """Stop the server and delete its runtime files (idempotent)."""
        try:
            self._kill_process()
        finally:
            self._cleanup()
            _unregister(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"


def _tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``."""
    candidates = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        version = initdb.parent.parent.name
        key = tuple(int(part) for part in re.findall(r"\d+", version))
        candidates.append((key, initdb.parent))
    if not candidates:
        raise ServerStartError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "run scripts/install-test-deps"
        )
    return max(candidates)[1]


class PostgresServer(_ProcessServer):
    """A throwaway PostgreSQL cluster with ``trust`` authentication.

    ``url`` is a SQLAlchemy URL (``postgresql+psycopg://user@127.0.0.1:PORT/db``)
    for the database created at start-up; :meth:`create_database` makes more.
    Durability is switched off (``fsync=off`` and friends) for speed.
    """

    kind = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: disconnect clients, exit

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        dbname: str = "helpdesk",
        user: str = "helpdesk",
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            directory, startup_timeout=startup_timeout, die_with_parent=die_with_parent
        )
        for name in (dbname, user):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"not a plain SQL identifier: {name!r}")
        self.dbname = dbname
        self.user = user
        self.settings = dict(settings or {})
        self.bindir = postgres_bindir()
        self.runtime_dir: Path | None = None
        self._run_as: str | None = "postgres" if _is_root() else None
        self._initialised = False

    @property
    def data_dir(self) -> Path:
        assert self.runtime_dir is not None, "server not started"
        return self.runtime_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.runtime_dir is not None, "server not started"
        return self.runtime_dir

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database."""
        return self.url_for(self.dbname)

    def url_for(self, dbname: str, driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL of another database on this server."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str | None = None) -> str:
        """libpq/psycopg connection string (no SQLAlchemy driver suffix)."""
        return self.url_for(dbname or self.dbname, driver="postgresql")

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a fresh database (random name by default); return its URL."""
        import psycopg
        from psycopg import sql

        name = name or f"test_{secrets.token_hex(6)}"
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its remaining sessions."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    # -- _ProcessServer hooks ------------------------------------------------
    def _popen_kwargs(self) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.runtime_dir)}
        if self._run_as is not None:
            uid, gid = _user_ids(self._run_as)
            kwargs.update(user=uid, group=gid, extra_groups=[])
            env["HOME"] = str(self.runtime_dir)
            env["USER"] = env["LOGNAME"] = self._run_as
        return kwargs

    def _prepare(self) -> None:
        self.runtime_dir = _runtime_dir(self.directory, self.kind, force_sidecar=_is_root())
        if self._run_as is not None:
            uid, gid = _user_ids(self._run_as)
            os.chown(self.runtime_dir, uid, gid)
        self.runtime_dir.chmod(0o700)
        with self.log_path.open("ab") as log:
            log.write(b"--- initdb ---\n")
            log.flush()
            cmd = [
                str(self.bindir / "initdb"),
                "--pgdata", str(self.data_dir),
                "--username", self.user,
                "--auth", "trust",
                "--encoding", "UTF8",
                "--no-locale",
                "--no-sync",
            ]  # fmt: skip
            result = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=self.startup_timeout,
                **self._popen_kwargs(),
            )
        if result.returncode != 0:
            raise ServerStartError(
                f"initdb failed with status {result.returncode}.\n"
                f"Last lines of {self.log_path}:\n{_log_tail(self.log_path)}"
            )
        self._initialised = True

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "timezone": "UTC",
        }
        settings.update(self.settings)
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def _probe(self) -> bool:
        import psycopg

        if not _tcp_accepts(self.host, self.port):
            return False
        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=2) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)
            ).fetchone()
        if not exists:
            self.create_database(self.dbname)
        return True

    def _cleanup(self) -> None:
        _remove_runtime_dir(self.directory, self.kind, self.runtime_dir)
        self.runtime_dir = None


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------


class RedisServer(_ProcessServer):
    """A throwaway ``redis-server`` without persistence; ``url`` uses db 0."""

    kind = "redis"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        executable: str = "redis-server",
        startup_timeout: float = 20.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            directory, startup_timeout=startup_timeout, die_with_parent=die_with_parent
        )
        self.executable = executable
        self.runtime_dir: Path | None = None

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def command(self, *args: str) -> bytes:
        """Send one command over a raw socket and return the first reply line."""
        payload = f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(payload)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.rstrip(b"\r\n")

    def flushall(self) -> None:
        """Empty every database (cheap per-test isolation)."""
        reply = self.command("FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def _prepare(self) -> None:
        self.runtime_dir = _runtime_dir(self.directory, self.kind, force_sidecar=False)

    def _command(self) -> list[str]:
        return [
            self.executable,
            "--bind", self.host,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.runtime_dir),
            "--logfile", "",
            "--daemonize", "no",
            "--databases", "64",
        ]  # fmt: skip

    def _popen_kwargs(self) -> dict[str, Any]:
        return {"cwd": str(self.runtime_dir)}

    def _probe(self) -> bool:
        if not _tcp_accepts(self.host, self.port):
            return False
        reply = self.command("PING")
        if reply.startswith(b"-LOADING"):
            return False
        if reply != b"+PONG":
            raise self._start_error(f"answered PING with {reply!r}")
        return True

    def _cleanup(self) -> None:
        _remove_runtime_dir(self.directory, self.kind, self.runtime_dir)
        self.runtime_dir = None


# --------------------------------------------------------------------------
# Dovecot (IMAP)
# --------------------------------------------------------------------------


def dovecot_version(executable: str = "dovecot") -> tuple[int, ...]:
    """``(2, 3, 19, 1)`` style version of the installed Dovecot."""
    try:
        out = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerStartError(
            f"cannot run {executable} --version ({exc}); run scripts/install-test-deps"
        ) from exc
    match = re.match(r"\s*(\d+(?:\.\d+)*)", out)
    if not match:
        raise ServerStartError(f"unexpected `dovecot --version` output: {out!r}")
    return tuple(int(part) for part in match.group(1).split("."))


# Dovecot's default auth_username_chars; also keeps user names safe as file names.
_USER_RE = re.compile(r"^[A-Za-z0-9._@-]+$")


class DovecotServer(_ProcessServer):
    """A throwaway IMAP server (no TLS, plaintext LOGIN allowed).

    Users live in a passwd-file that Dovecot re-reads when it changes, so
    :meth:`add_user` works while the server runs.  Mail is stored as maildir
    under the runtime directory, owned by ``mail_user`` (default: ``nobody``
    when running as root, else the current user).
    """

    kind = "dovecot"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        users: Mapping[str, str] | None = None,
        mail_user: str | None = None,
        executable: str = "dovecot",
        startup_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        super().__init__(
            directory, startup_timeout=startup_timeout, die_with_parent=die_with_parent
        )
        self.executable = executable
        self.version = dovecot_version(executable)
        if mail_user is None:
            mail_user = "nobody" if _is_root() else pwd.getpwuid(os.geteuid()).pw_name
        self.mail_user = mail_user
        self.mail_uid, self.mail_gid = _user_ids(mail_user)
        self.runtime_dir: Path | None = None
        self._users: dict[str, str] = {}
        self._users_lock = threading.Lock()
        # A private user for the readiness probe (LOGIN + SELECT INBOX).
        self._probe_user = ("probe-" + secrets.token_hex(4), secrets.token_hex(12))
        for name, password in (users or {}).items():
            self._check_credentials(name, password)
            self._users[name] = password

    # -- public API ------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        assert self.runtime_dir is not None, "server not started"
        return self.runtime_dir / "dovecot.conf"

    @property
    def passwd_dir(self) -> Path:
        """One passwd-file per user (``<passwd_dir>/<user>``)."""
        assert self.runtime_dir is not None, "server not started"
        return self.runtime_dir / "users"

    @property
    def mail_root(self) -> Path:
        """Parent of the users' home directories (``<mail_root>/<user>/Maildir``)."""
        assert self.runtime_dir is not None, "server not started"
        return self.runtime_dir / "mail"

    @property
    def users(self) -> dict[str, str]:
        """Copy of the ``{name: password}`` mapping (without the probe user)."""
        with self._users_lock:
            return dict(self._users)

    def add_user(self, name: str, password: str) -> None:
        """Add (or change the password of) a user; effective immediately."""
        self._check_credentials(name, password)
        with self._users_lock:
            previous = self._users.get(name)
            self._users[name] = password
            if self.runtime_dir is None:
                return
            self._write_passwd(name, password)
        if previous is not None and previous != password and self.running:
            # Dovecot re-checks a passwd-file at most once per second.
            deadline = time.monotonic() + 5
            while True:
                try:
                    self.connect(name, password, timeout=5).logout()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def connect(self, user: str, password: str, *, timeout: float = 10.0) -> Any:
        """Return a logged-in ``imapclient.IMAPClient`` (caller must logout)."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            client.login(user, password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(
        self,
        user: str,
        password: str,
        raw: bytes | str,
        folder: str = "INBOX",
        *,
        flags: Sequence[str | bytes] = (),
    ) -> int | None:
        """APPEND one message over IMAP, creating ``folder`` if needed.

        Returns the new message's UID (from APPENDUID) when the server reports it.
        """
        client = self.connect(user, password)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags))
        finally:
            with contextlib.suppress(Exception):
                client.logout()
        text = response.decode(errors="replace") if isinstance(response, bytes) else str(response)
        match = re.search(r"APPENDUID \d+ (\d+)", text)
        return int(match.group(1)) if match else None

    def messages(self, user: str, password: str, folder: str = "INBOX") -> list[bytes]:
        """Raw bytes of every message in ``folder``, in UID order."""
        client = self.connect(user, password)
        try:
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            fetched = client.fetch(uids, [b"BODY.PEEK[]"])
            return [bytes(fetched[uid][b"BODY[]"]) for uid in uids]
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    # -- internals -------------------------------------------------------------
    @staticmethod
    def _check_credentials(name: str, password: str) -> None:
        if not _USER_RE.match(name):
            raise ValueError(f"unsupported IMAP user name {name!r}")
        if any(ch in password for ch in ":\r\n\0") or not password:
            raise ValueError("passwords must be non-empty and contain no ':' or newlines")

    def _write_passwd(self, name: str, password: str) -> None:
        # A file per user: Dovecot opens a new passwd-file the first time its
        # (user-dependent) path is used, so new users work at once, whereas a
        # changed file is only re-read after up to a second.
        path = self.passwd_dir / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(
            f"{name}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::"
            f"{self.mail_root / name}::\n"
        )
        tmp.chmod(0o644)
        os.replace(tmp, path)

    def _config(self) -> str:
        assert self.runtime_dir is not None
        v24 = self.version >= (2, 4)
        lines: list[str] = []
        if v24:
            lines += ["dovecot_config_version = 2.4.0", "dovecot_storage_version = 2.4.0"]
        lines += [
            "protocols = imap",
            f"listen = {self.host}",
            f"base_dir = {self.runtime_dir / 'run'}",
            f"state_dir = {self.runtime_dir / 'state'}",
            f"log_path = {self.log_path}",
            f"info_log_path = {self.log_path}",
            f"debug_log_path = {self.log_path}",
            "ssl = no",
            "auth_mechanisms = plain login",
            # Newer Dovecots answer failed logins at once with this; 2.3.19
            # still flushes failures on a 0.5 s timer.
            "auth_failure_delay = 0",
            f"mail_uid = {self.mail_uid}",
            f"mail_gid = {self.mail_gid}",
            f"first_valid_uid = {min(self.mail_uid, 500)}",
            f"first_valid_gid = {min(self.mail_gid, 500)}",
            "login_greeting = throwaway dovecot ready",
        ]
        if v24:
            lines += [
                "auth_allow_cleartext = yes",
                "mail_driver = maildir",
                "mail_path = ~/Maildir",
                "passdb passwd-file {",
                f"  passwd_file_path = {self.passwd_dir}/%{{user}}",
                "}",
                "userdb passwd-file {",
                f"  passwd_file_path = {self.passwd_dir}/%{{user}}",
                "}",
            ]
        else:
            lines += [
                "disable_plaintext_auth = no",
                "mail_location = maildir:~/Maildir",
                "passdb {",
                "  driver = passwd-file",
                f"  args = {self.passwd_dir}/%u",
                "}",
                "userdb {",
                "  driver = passwd-file",
                f"  args = {self.passwd_dir}/%u",
                "}",
            ]
        lines += [
            "protocol imap {",
            "  mail_max_userip_connections = 1000",
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            f"    port = {self.port}",
            "  }",
            "  inet_listener imaps {",
            "    port = 0",
            "  }",
        ]
        if not _is_root():
            lines += ["  chroot ="]
        lines += ["}"]
        # Switch off anvil's auth penalty: after failed logins from an IP it
        # delays every further login (2, 4, 8, then 15 s), even correct ones,
        # which tests of wrong passwords would trip over.
        anvil = ["service anvil {"]
        if not _is_root():
            anvil += ["  chroot ="]
        anvil += ["  unix_listener anvil-auth-penalty {", "    mode = 0", "  }", "}"]
        lines += anvil
        if not _is_root():
            me = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(me.pw_gid).gr_name
            lines += [
                f"default_internal_user = {me.pw_name}",
                f"default_internal_group = {group}",
                f"default_login_user = {me.pw_name}",
            ]
        return "\n".join(lines) + "\n"

    def _prepare(self) -> None:
        self.runtime_dir = _runtime_dir(self.directory, self.kind, force_sidecar=_is_root())
        # Dovecot's unprivileged helpers must traverse this directory and read
        # the passwd-file; the maildirs below belong to the mail user.
        self.runtime_dir.chmod(0o755)
        self.mail_root.mkdir(mode=0o700)
        if _is_root():
            os.chown(self.mail_root, self.mail_uid, self.mail_gid)
        self.passwd_dir.mkdir(mode=0o755)
        with self._users_lock:
            self._write_passwd(*self._probe_user)
            for name, password in self._users.items():
                self._write_passwd(name, password)

    def _command(self) -> list[str]:
        return [self.executable, "-F", "-c", str(self.config_path)]

    def _launch_and_wait(self) -> None:
        # The config depends on the port, so it is rewritten for every attempt.
        self.config_path.write_text(self._config())
        super()._launch_and_wait()

    def _popen_kwargs(self) -> dict[str, Any]:
        return {"cwd": str(self.runtime_dir)}

    def _probe(self) -> bool:
        if not _tcp_accepts(self.host, self.port):
            return False
        client = self.connect(*self._probe_user, timeout=5)
        try:
            client.select_folder("INBOX")
        finally:
            with contextlib.suppress(Exception):
                client.logout()
        return True

    def _cleanup(self) -> None:
        _remove_runtime_dir(self.directory, self.kind, self.runtime_dir)
        self.runtime_dir = None


# --------------------------------------------------------------------------
# SMTP sink
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """One message accepted by :class:`SmtpSink`."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    auth_login: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def message(self) -> EmailMessage:
        """``data`` parsed with the modern ``email.policy.default``."""
        parsed = BytesParser(policy=email.policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpSink:
    """An in-process SMTP server (aiosmtpd) that records every message.

    No TLS.  If ``credentials`` is given, AUTH PLAIN/LOGIN is offered (and
    accepted without TLS) but not required.
    """

    def __init__(
        self,
        *,
        credentials: Mapping[str, str] | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.host = HOST
        self.port = 0
        self.credentials = dict(credentials or {})
        self.startup_timeout = startup_timeout
        self._messages: list[ReceivedMessage] = []
        self._condition = threading.Condition()
        self._controller: Any = None

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Snapshot of the messages received so far."""
        with self._condition:
            return list(self._messages)

    def clear(self) -> None:
        with self._condition:
            self._messages.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return all of them.

        Raises ``TimeoutError`` (mentioning what did arrive) otherwise.
        """
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._messages) >= count, timeout):
                got = [(m.mail_from, m.rcpt_tos) for m in self._messages]
                raise TimeoutError(
                    f"expected {count} message(s) within {timeout:g}s, got {len(got)}: {got}"
                )
            return list(self._messages)

    def _record(self, message: ReceivedMessage) -> None:
        with self._condition:
            self._messages.append(message)
            self._condition.notify_all()

    def start(self) -> Self:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                auth = getattr(session, "auth_data", None)
                login = (
                    auth.login.decode(errors="replace") if isinstance(auth, LoginPassword) else None
                )
                sink._record(
                    ReceivedMessage(
                        mail_from=str(envelope.mail_from),
                        rcpt_tos=tuple(str(r) for r in envelope.rcpt_tos),
                        data=bytes(envelope.original_content or envelope.content or b""),
                        auth_login=login,
                    )
                )
                return "250 Message accepted for delivery"

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> Any:
            if isinstance(auth_data, LoginPassword):
                user = auth_data.login.decode(errors="replace")
                password = auth_data.password.decode(errors="replace")
                if self.credentials.get(user) == password:
                    return AuthResult(success=True, auth_data=auth_data)
            return AuthResult(success=False, handled=False)

        smtp_options: dict[str, Any] = {"enable_SMTPUTF8": True}
        if self.credentials:
            smtp_options.update(authenticator=authenticator, auth_require_tls=False)
        last_error: Exception | None = None
        for _attempt in range(_MAX_PORT_ATTEMPTS):
            self.port = free_port(self.host)
            controller = Controller(
                Handler(),
                hostname=self.host,
                port=self.port,
                ready_timeout=self.startup_timeout,
                **smtp_options,
            )
            try:
                controller.start()
            except Exception as exc:
                last_error = exc
                with contextlib.suppress(Exception):
                    controller.stop()
                if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                    continue
                raise ServerStartError(f"SMTP sink on {self.host}:{self.port}: {exc!r}") from exc
            self._controller = controller
            _register(self)
            return self
        raise ServerStartError(f"SMTP sink could not find a free port: {last_error!r}")

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            with contextlib.suppress(Exception):
                controller.stop()
        _unregister(self)

    def send(self, mail_from: str, rcpt_tos: Iterable[str], raw: bytes | str) -> None:
        """Convenience: deliver a message to this sink with smtplib."""
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.sendmail(mail_from, list(rcpt_tos), raw)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._controller is not None else "stopped"
        return f"<SmtpSink {self.host}:{self.port} {state}>"
