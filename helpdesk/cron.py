"""Periodic work for production: ``rq cron helpdesk/cron.py --url $HELPDESK_REDIS_URL``.

Each periodic task the app and its extensions registered (mail polling fallback, ...) is
scheduled on its queue; ``rq worker`` processes run them like any other job.
"""

from __future__ import annotations

from rq import cron

from helpdesk.app import create_app
from helpdesk.jobs import execute, periodic_tasks

for task in periodic_tasks(create_app()):
    cron.register(execute, task.queue, args=(task.task, task.queue), interval=task.seconds,
                  name=task.task)
