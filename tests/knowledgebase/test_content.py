"""Markdown rendering and slugs (pure)."""

import pytest

from knowledgebase.content import render_markdown, slug_from_title


@pytest.mark.parametrize(("title", "slug"), [
    ("Reset your password", "reset-your-password"),
    ("如何申请退款？", "如何申请退款"),
    ("退款政策 (2024)", "退款政策-2024"),
    ("ＦＡＱ：发票", "faq-发票"),
    ("  What's new?  ", "what-s-new"),
    ("???", ""),
])
def test_slug_keeps_letters_of_every_script(title, slug):
    assert slug_from_title(title, 120) == slug


def test_slug_is_cut_to_length_without_a_trailing_hyphen():
    assert slug_from_title("abc def", 4) == "abc"


def test_markdown_is_rendered():
    html = render_markdown("# 退款政策\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n**bold**")
    assert "<h1>退款政策</h1>" in html and "<table>" in html and "<strong>bold</strong>" in html


def test_raw_html_in_markdown_shows_as_text_and_never_as_markup():
    html = render_markdown('Hi <script>alert(1)</script> <img src=x onerror="alert(2)">')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_javascript_links_in_markdown_are_not_links():
    html = render_markdown("[click](javascript:alert(1)) [ok](https://example.com)")
    assert 'href="javascript' not in html
    assert 'href="https://example.com"' in html
