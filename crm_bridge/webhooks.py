"""Inbound webhooks: a source says "these ids changed"; we verify it and fetch them.

A webhook is only a hint, never the data of record: its body names ids, and a job reads
those records from the source (``crm_bridge.sync.fetch_hinted``), so a forged or replayed
call can at most make us re-read a record. Vendors with their own signature scheme decode
through their adapter (``WebhookDecoder``); every other source signs the raw body with
HMAC-SHA256 and the source's ``webhook_secret``::

    X-Helpdesk-Signature: sha256=<hex of HMAC-SHA256(secret, body)>
    {"ids": ["C-1", "C-2"]}
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence

from flask import Blueprint, abort, request
from sqlalchemy import select

from crm_bridge.contract import AuthFailed, ChangeHint, WebhookDecoder
from crm_bridge.models import CrmSource
from crm_bridge.sync import QUEUE, adapter_for
from helpdesk.db import db
from helpdesk.extensions import csrf
from helpdesk.jobs import enqueue

webhooks = Blueprint("crm_webhooks", __name__, url_prefix="/crm/webhooks")
MAX_BODY_BYTES = 256 * 1024
MAX_IDS = 1000
SIGNATURE_HEADER = "X-Helpdesk-Signature"


class SignedIdsDecoder:
    """The generic scheme: HMAC-SHA256 over the raw body, ids in ``{"ids": [...]}``."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def verify_and_decode(self, *, headers: Mapping[str, str], query: Mapping[str, str],
                          body: bytes) -> Sequence[ChangeHint]:
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not self.secret or not hmac.compare_digest(
                expected, headers.get(SIGNATURE_HEADER, "")):
            raise AuthFailed("bad webhook signature")
        try:
            ids = json.loads(body)["ids"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError("body must be {\"ids\": [...]}") from error
        if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
            raise ValueError("ids must be a list of strings")
        return [ChangeHint("customer", [str(i) for i in ids])]


def _decoder(source: CrmSource) -> WebhookDecoder:
    adapter = adapter_for(source)
    if isinstance(adapter, WebhookDecoder):
        return adapter
    return SignedIdsDecoder(str((source.secrets or {}).get("webhook_secret", "")))


@webhooks.post("/<source_name>")
@csrf.exempt
def receive(source_name: str) -> tuple[str, int]:
    source = db.session.scalar(select(CrmSource).where(CrmSource.name == source_name))
    if source is None or not source.enabled:
        abort(404)
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY_BYTES:
        abort(413)
    try:
        hints = _decoder(source).verify_and_decode(
            headers=dict(request.headers), query=request.args.to_dict(), body=body)
    except AuthFailed:
        abort(403)
    except ValueError:
        abort(400)
    ids = list(dict.fromkeys(i for hint in hints for i in hint.external_ids))[:MAX_IDS]
    if ids:
        enqueue("crm_bridge.sync.fetch_hinted", source.id, ids, queue=QUEUE)
        db.session.commit()
    return "", 202
