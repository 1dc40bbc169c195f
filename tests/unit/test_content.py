import pytest

from helpdesk.app import format_duration
from helpdesk.tickets.content import safe_filename, sanitize_html


def test_script_tags_and_event_handlers_are_removed():
    cleaned = sanitize_html('<p onclick="steal()">Hi<script>alert(1)</script></p>')
    assert "script" not in cleaned and "onclick" not in cleaned and "Hi" in cleaned


def test_javascript_links_are_removed():
    cleaned = sanitize_html('<a href="javascript:alert(1)">click</a>')
    assert "javascript" not in cleaned


def test_remote_images_are_dropped_but_inline_images_kept():
    cleaned = sanitize_html('<img src="https://tracker.example/p.gif"><img src="cid:logo@x">')
    assert "tracker.example" not in cleaned
    assert 'src="cid:logo@x"' in cleaned


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("invoice.pdf\u200b.html", "invoice.pdf.html"),
        ("..\\..\\etc/passwd", "_.._etc_passwd"),
        ("报价单.xlsx", "报价单.xlsx"),
        ("\u202egpj.exe", "gpj.exe"),
        ("", "attachment"),
    ],
)
def test_filenames_lose_invisible_characters_and_path_separators(raw, expected):
    assert safe_filename(raw) == expected


def test_durations_read_like_a_person_would_say_them():
    from datetime import timedelta

    assert format_duration(timedelta(minutes=45)) == "45m"
    assert format_duration(timedelta(hours=2, minutes=5)) == "2h 5m"
    assert format_duration(-timedelta(days=1, hours=3)) == "1d 3h"
