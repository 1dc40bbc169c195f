"""The production email intake as real processes: ``flask mailbox watch`` and ``rq worker``s
on Redis, against a real Dovecot and a database, configured only through ``HELPDESK_*``.

Shared by the fault-injection test and ``benchmarks/email_intake.py``; no pytest here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Process:
    """A child process in its own process group (an rq worker forks a work horse per job;
    killing the group takes the horse too, as a machine crash would)."""

    def __init__(self, name: str, command: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.command = command
        self.env = dict(env)
        self.log_path = log
        self._log: IO[bytes] | None = None
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, no goodbye."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its reaped children (rq work horses)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


class IntakeStack:
    """Environment and processes of one production-mode installation."""

    def __init__(self, directory: Path, database_url: str, redis_url: str,
                 smtp: tuple[str, int], **settings: str) -> None:
        self.directory = directory
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
            "HELPDESK_SECRET_KEY": "intake-stack-secret",
            "HELPDESK_DATABASE_URL": database_url,
            "HELPDESK_REDIS_URL": redis_url,
            "HELPDESK_SMTP_HOST": smtp[0],
            "HELPDESK_SMTP_PORT": str(smtp[1]),
            "HELPDESK_ATTACHMENT_DIR": str(directory / "attachments"),
            "HELPDESK_SUPPORT_ADDRESS": "support@helpdesk.example",
            "HELPDESK_MAIL_DOMAIN": "helpdesk.example",
            "PYTHONPATH": str(ROOT),
            **{f"HELPDESK_{name}": value for name, value in settings.items()},
        }
        self.processes: list[Process] = []

    def flask(self, *args: str, input_text: str | None = None) -> str:
        result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT,
                                env=self.env, check=True, capture_output=True, text=True,
                                input=input_text, timeout=300)
        return result.stdout

    def migrate(self) -> None:
        self.flask("db", "upgrade")

    def add_mailbox(self, host: str, port: int, user: str, password: str) -> None:
        self.flask("mailbox", "add", "--name", "support", "--address",
                   "support@helpdesk.example", "--imap-host", host, "--imap-port", str(port),
                   "--username", user, "--password", password, "--security", "none")

    def watcher(self, number: int = 0) -> Process:
        return self._start(f"watcher-{number}", [str(BIN / "flask"), "--app", "wsgi",
                                                 "mailbox", "watch"])

    def worker(self, number: int = 0, *queues: str, simple: bool = False) -> Process:
        """An ``rq worker`` as the README runs it; ``simple`` runs jobs in the worker process
        itself (no work horse), so its memory can be measured."""
        worker_class = "rq.worker.SimpleWorker" if simple else "helpdesk.jobs.Worker"
        command = [str(BIN / "rq"), "worker", "--url", self.env["HELPDESK_REDIS_URL"],
                   "--worker-class", worker_class,
                   "--name", f"intake-{number}-{time.monotonic_ns()}", *(queues or ("inbound",))]
        return self._start(f"worker-{number}", command)

    def _start(self, name: str, command: list[str]) -> Process:
        process = Process(name, command, self.env, self.directory / f"{name}.log").start()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()
