"""Attachment bytes on disk, under random names; never the user's filename."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app


def _root() -> Path:
    root = Path(current_app.config["ATTACHMENT_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def save_bytes(data: bytes) -> str:
    """Write ``data`` under a new random name and return that name."""
    storage_name = secrets.token_hex(16)
    path = _root() / storage_name[:2] / storage_name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return storage_name


def path_of(storage_name: str) -> Path:
    if len(storage_name) != 32 or not all(c in "0123456789abcdef" for c in storage_name):
        raise ValueError("not a storage name")
    return _root() / storage_name[:2] / storage_name
