"""Builders for real-world mail shapes the parser tests feed in (bytes exactly as sent)."""

from __future__ import annotations

import struct


def _tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    # MS-OXTNEF 2.1.3: level, attribute id (type << 16 | id), length, data, checksum
    # (the sum of the data bytes modulo 65536).
    return (struct.pack("<BII", level, attribute, len(data)) + data
            + struct.pack("<H", sum(data) & 0xFFFF))


def tnef(files: list[tuple[str, bytes]]) -> bytes:
    """A TNEF stream (winmail.dat) as Outlook writes it, carrying ``files``."""
    stream = struct.pack("<IH", 0x223E9F78, 0x0001)
    stream += _tnef_attribute(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    stream += _tnef_attribute(1, 0x00069007, struct.pack("<I", 1252) + b"\0" * 4)  # OEM cp
    for name, data in files:
        # attAttachRendData opens an attachment; attAttachTitle names it (8.3 names in
        # legacy TNEF, NUL-terminated); attAttachData holds its bytes.
        stream += _tnef_attribute(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\0" * 8)
        stream += _tnef_attribute(2, 0x00018010, name.encode("cp1252") + b"\0")
        stream += _tnef_attribute(2, 0x0006800F, data)
    return stream
