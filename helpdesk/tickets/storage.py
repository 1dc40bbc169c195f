"""Attachment bytes on disk, under random names; never the user's filename."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from flask import current_app


def _root() -> Path:
    root = Path(current_app.config["ATTACHMENT_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def _new_path() -> tuple[str, Path]:
    storage_name = secrets.token_hex(16)
    path = _root() / storage_name[:2] / storage_name
    path.parent.mkdir(exist_ok=True)
    return storage_name, path


def save_bytes(data: bytes) -> str:
    """Write ``data`` under a new random name and return that name."""
    storage_name, path = _new_path()
    path.write_bytes(data)
    return storage_name


def save_file(source: Path) -> str:
    """Move the file ``source`` into storage under a new random name and return that name.

    A rename when ``source`` is on the storage's file system (see :func:`scratch_dir`), so a
    big file is never read into memory or copied; a streamed copy otherwise.
    """
    storage_name, path = _new_path()
    shutil.move(source, path)
    return storage_name


def scratch_dir() -> Path:
    """A directory beside the stored files for files on their way in (written first, then
    handed to :func:`save_file`), so that handing them over is a rename."""
    scratch = _root() / "scratch"
    scratch.mkdir(exist_ok=True)
    return scratch


def path_of(storage_name: str) -> Path:
    if len(storage_name) != 32 or not all(c in "0123456789abcdef" for c in storage_name):
        raise ValueError("not a storage name")
    return _root() / storage_name[:2] / storage_name
