"""The throwaway servers of tests/services.py really work and clean up after themselves."""

from __future__ import annotations

import os
import smtplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest
import redis
from imapclient import IMAPClient

try:
    from tests.services import (
        DovecotServer,
        PostgresServer,
        RedisServer,
        ServerStartError,
        SmtpSink,
        free_port,
    )
except ModuleNotFoundError:  # repository root not on sys.path (no pytest `pythonpath`)
    from services import (
        DovecotServer,
        PostgresServer,
        RedisServer,
        ServerStartError,
        SmtpSink,
        free_port,
    )


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _pid_is_gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path_factory.mktemp("imap"), users={"alice": "s3cret"}) as server:
        yield server


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_postgres_select_1(postgres: PostgresServer) -> None:
    assert postgres.url.startswith("postgresql+psycopg://helpdesk@127.0.0.1:")
    assert postgres.url.endswith(f":{postgres.port}/helpdesk")
    with psycopg.connect(postgres.dsn()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)


def test_postgres_create_database_is_fresh_and_isolated(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    name = url.rsplit("/", 1)[1]
    assert url == postgres.url_for(name)
    with psycopg.connect(postgres.dsn(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x text)")
        conn.execute("INSERT INTO t VALUES ('工单')")
        assert conn.execute("SELECT x FROM t").fetchone() == ("工单",)
    with psycopg.connect(postgres.dsn()) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
    postgres.drop_database(name)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres.dsn(name)).close()


def test_postgres_works_with_sqlalchemy(postgres: PostgresServer) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(postgres.create_database("sqla_check"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 41 + 1")).scalar() == 42
    finally:
        engine.dispose()


def test_redis_ping_and_cleanup(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        client.set("k", "v")
        assert client.get("k") == b"v"
        server.flushall()
        assert client.get("k") is None
        client.close()
    finally:
        pid, port = server.pid, server.port
        server.stop()
    assert _pid_is_gone(pid)
    assert _port_is_closed(port)
    assert not (tmp_path / "redis").exists()
    assert (tmp_path / "redis.log").exists()


def test_dovecot_append_then_read_back(dovecot: DovecotServer) -> None:
    raw = (
        b"From: Customer <customer@example.org>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: =?utf-8?b?5oiR55qE6K6i5Y2V?=\r\n"
        b"Message-ID: <first@example.org>\r\n"
        b"\r\n"
        b"Where is my order?\r\n"
    )
    uid = dovecot.append("alice", "s3cret", raw)
    assert uid is not None
    with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10) as client:
        client.login("alice", "s3cret")
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch([uid], [b"BODY.PEEK[]"])
        assert fetched[uid][b"BODY[]"] == raw
    assert raw in dovecot.messages("alice", "s3cret")


def test_dovecot_users_added_later_and_other_folders(dovecot: DovecotServer) -> None:
    dovecot.add_user("bob", "hunter2")
    dovecot.append("bob", "hunter2", b"Subject: filed\r\n\r\nbody\r\n", folder="Archive")
    assert dovecot.messages("bob", "hunter2", "Archive") == [b"Subject: filed\r\n\r\nbody\r\n"]
    assert dovecot.messages("bob", "hunter2") == []
    with pytest.raises(IMAPClient.Error):
        dovecot.connect("bob", "wrong password")


def test_smtp_sink_captures_messages() -> None:
    with SmtpSink() as sink:
        msg = EmailMessage()
        msg["From"] = "helpdesk@example.com"
        msg["To"] = "customer@example.org"
        msg["Subject"] = "Re: 我的订单"
        msg.set_content("Your ticket #42 was answered.")
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
            smtp.send_message(msg)
        sink.send("a@example.com", ["b@example.com", "c@example.com"], b"Subject: x\r\n\r\ny\r\n")
        first, second = sink.wait_for(2, timeout=5)
        assert first.mail_from == "helpdesk@example.com"
        assert first.rcpt_tos == ("customer@example.org",)
        assert first.message["Subject"] == "Re: 我的订单"
        assert "ticket #42" in first.message.get_content()
        assert second.rcpt_tos == ("b@example.com", "c@example.com")
        sink.clear()
        with pytest.raises(TimeoutError):
            sink.wait_for(1, timeout=0.1)
        port = sink.port
    assert _port_is_closed(port)


def test_smtp_sink_with_auth() -> None:
    with SmtpSink(credentials={"mailer": "pw"}) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("mailer", "nope")
            smtp.login("mailer", "pw")
            smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: s\r\n\r\nb\r\n")
        (received,) = sink.wait_for(1)
        assert received.auth_login == "mailer"


def test_postgres_and_dovecot_stop_cleanly(tmp_path: Path) -> None:
    pg = PostgresServer(tmp_path, dbname="other").start()
    imap = DovecotServer(tmp_path).start()
    runtimes = [pg.runtime_dir, imap.runtime_dir]
    pids = [pg.pid, imap.pid]
    ports = [pg.port, imap.port]
    pg.stop()
    imap.stop()
    pg.stop()  # idempotent
    assert all(_pid_is_gone(pid) for pid in pids)
    assert all(_port_is_closed(port) for port in ports)
    assert all(runtime is not None and not runtime.exists() for runtime in runtimes)
    assert not (tmp_path / "postgres").exists()
    assert not (tmp_path / "dovecot").exists()
    assert (tmp_path / "postgres.log").stat().st_size > 0


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, executable="/bin/false")
    with pytest.raises(ServerStartError, match="exited with status 1"):
        server.start()
    assert not (tmp_path / "redis").exists()
