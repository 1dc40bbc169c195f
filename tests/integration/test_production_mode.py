"""Production mode end to end: gunicorn serving ``wsgi:app`` on PostgreSQL, jobs on Redis
handled by an ``rq worker`` process, periodic work from ``rq cron``; all configured through
``HELPDESK_*`` environment variables only, as the README documents."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from tests.services import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def production_env(tmp_path, postgres, smtp_sink):
    smtp_sink.clear()
    with RedisServer(tmp_path / "redis") as redis_server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
            "HELPDESK_SECRET_KEY": "production-test-secret",
            "HELPDESK_DATABASE_URL": postgres.create_database(),
            "HELPDESK_REDIS_URL": redis_server.url,
            "HELPDESK_SMTP_HOST": smtp_sink.host,
            "HELPDESK_SMTP_PORT": str(smtp_sink.port),
            "HELPDESK_ATTACHMENT_DIR": str(tmp_path / "attachments"),
            "HELPDESK_SUPPORT_ADDRESS": "support@example.com",
            "HELPDESK_MAIL_DOMAIN": "helpdesk.example.com",
            "HELPDESK_MAIL_POLL_SECONDS": "1",
            "PYTHONPATH": str(ROOT),
        }
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       env=env, check=True, capture_output=True, timeout=120)
        yield env, redis_server


def _start(command, env, log_path):
    log = open(log_path, "wb")  # noqa: SIM115  (closed with the process below)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    process.log_file = log
    return process


def _stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    process.log_file.close()


def _wait_for_http(url, process, log_path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no answer from {url}:\n{log_path.read_text()[-3000:]}")


def test_web_form_through_gunicorn_postgres_redis_and_rq_worker(production_env, smtp_sink,
                                                                tmp_path):
    env, _ = production_env
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = _start([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"], env,
                 tmp_path / "gunicorn.log")
    worker = _start([str(BIN / "rq"), "worker", "--with-scheduler", "--url",
                     env["HELPDESK_REDIS_URL"], "inbound", "outbound", "sla", "crm", "default"],
                    env, tmp_path / "worker.log")
    try:
        _wait_for_http(f"{base}/support", web, tmp_path / "gunicorn.log")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = opener.open(f"{base}/support").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({
            "csrf_token": token, "name": "Kenji Sato", "email": "kenji@example.jp",
            "subject": "請求書が届きません",
            "message": "今月の請求書がまだ届いていません。"}).encode()
        request = urllib.request.Request(f"{base}/support", data=form,
                                         headers={"Referer": f"{base}/support"})
        confirmation = opener.open(request).read().decode()
        reference = re.search(r'id="ticket-reference">#(\d+)<', confirmation).group(1)

        [ack] = smtp_sink.wait_for(1, timeout=30)
        assert ack.rcpt_tos == ("kenji@example.jp",)
        assert f"[#{reference}]" in ack.message["Subject"]
        assert ack.message["Auto-Submitted"] == "auto-replied"
    finally:
        _stop(web)
        _stop(worker)


def test_rq_cron_schedules_mail_polling(production_env, tmp_path):
    env, redis_server = production_env
    cron = _start([str(BIN / "rq"), "cron", "--url", env["HELPDESK_REDIS_URL"],
                   "helpdesk/cron.py"], env, tmp_path / "cron.log")
    try:
        inbound = Queue("inbound", connection=Redis.from_url(redis_server.url))
        deadline = time.monotonic() + 30
        while inbound.count == 0 and time.monotonic() < deadline:
            assert cron.poll() is None, (tmp_path / "cron.log").read_text()[-3000:]
            time.sleep(0.2)
        jobs = inbound.get_jobs()
        assert {job.func_name for job in jobs} == {"helpdesk.jobs.execute"}
        # Beside the safety-net poll, the inbound queue gets the sweep for lost ingest jobs.
        assert "channels.email.poller.poll_all" in {job.args[0] for job in jobs}
    finally:
        _stop(cron)
