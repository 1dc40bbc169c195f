"""The generated mail corpus (tests/email/corpus.py), ingested shuffled: every mail on
exactly one ticket, every reply threaded as the manifest says, every attachment kept,
GBK/GB2312 decoded."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from helpdesk.db import db
from helpdesk.tickets.models import Message
from tests.email.corpus import generate
from tests.email.understanding import deliver, mailbox


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("corpus")
    generate(200, directory, seed=7)
    return directory, json.loads((directory / "manifest.json").read_text("utf-8"))


def test_shuffled_corpus_threads_every_reply_and_keeps_everything(
        any_db_app: Flask, corpus: tuple[Path, dict[str, Any]]) -> None:
    directory, manifest = corpus
    mails = list(manifest["messages"])
    random.Random(7).shuffle(mails)  # out of order: replies often come before their parents
    box = mailbox(address="support@helpdesk.example")
    for mail in mails:
        deliver(box, (directory / mail["file"]).read_bytes())

    messages = {message.rfc_message_id: message for message in db.session.scalars(
        select(Message).where(Message.kind == "customer"))}
    assert len(messages) == len(mails)  # every mail on exactly one ticket
    tickets_of_conversation: dict[int, set[int]] = {}
    for mail in mails:
        tickets_of_conversation.setdefault(mail["conv"], set()).add(
            messages[mail["message_id"]].ticket_id)
    split = {conv: ids for conv, ids in tickets_of_conversation.items() if len(ids) > 1}
    assert split == {}  # 100% of replies on their conversation's ticket
    ticket_ids = [next(iter(ids)) for ids in tickets_of_conversation.values()]
    assert len(set(ticket_ids)) == manifest["conversations"]  # no two conversations joined

    for mail in mails:
        message = messages[mail["message_id"]]
        assert mail["token"] in (message.body_full or message.body_text), mail["file"]
        if mail["quoted_probe"]:  # the quoted history is cut from what agents read first
            assert mail["quoted_probe"] not in message.body_text, mail["file"]
        kept = {(a.filename, a.size) for a in message.attachments}
        assert kept == {(a["name"], a["size"]) for a in mail["attachments"]}, mail["file"]
    gbk = [mail for mail in mails if mail["charset"] in ("gbk", "gb2312")]
    assert gbk and all("参考编号" in messages[mail["message_id"]].body_text for mail in gbk)
