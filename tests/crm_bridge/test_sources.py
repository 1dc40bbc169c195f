"""Reading CRM export files (pure: files only)."""

import json

import pytest

from crm_bridge.sources import (
    EXTRA_CELLS_KEY,
    SAMPLE_BYTES,
    SourceError,
    detect_encoding,
    read_records,
)

CHINESE_CSV = ("客户名称,电子邮箱,客户等级\n"
               "张伟,zhang.wei@example.cn,A类客户\n"
               "王芳,wangfang@example.cn,B类客户\n")


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_utf8_csv_rows_are_numbered_like_spreadsheet_rows(tmp_path):
    path = _write(tmp_path, "c.csv", CHINESE_CSV.encode())
    assert list(read_records(path)) == [
        (2, {"客户名称": "张伟", "电子邮箱": "zhang.wei@example.cn", "客户等级": "A类客户"}),
        (3, {"客户名称": "王芳", "电子邮箱": "wangfang@example.cn", "客户等级": "B类客户"}),
    ]


def test_excel_utf8_bom_does_not_end_up_in_the_first_column_name(tmp_path):
    path = _write(tmp_path, "c.csv", b"\xef\xbb\xbf" + CHINESE_CSV.encode())
    assert detect_encoding(path) == "utf-8-sig"
    assert "客户名称" in next(iter(read_records(path)))[1]


def test_gbk_export_is_detected_and_read_as_gb18030(tmp_path):
    path = _write(tmp_path, "c.csv", CHINESE_CSV.encode("gbk"))
    assert detect_encoding(path) == "gb18030"
    assert [record["客户名称"] for _, record in read_records(path)] == ["张伟", "王芳"]


def test_gb18030_character_outside_gbk_survives(tmp_path):
    # 𠮷 (U+20BB7) exists in GB18030 only; reading a GBK guess as GBK would fail on it.
    text = CHINESE_CSV + "吉𠮷,ji@example.cn,A类客户\n"
    path = _write(tmp_path, "c.csv", text.encode("gb18030"))
    assert [record["客户名称"] for _, record in read_records(path)][-1] == "吉𠮷"


def test_quoted_cell_spanning_lines_is_still_one_row(tmp_path):
    path = _write(tmp_path, "c.csv", b'email,note\na@example.com,"two\nlines"\nb@example.com,x\n')
    assert [number for number, _ in read_records(path)] == [2, 3]


def test_cells_beyond_the_header_are_kept(tmp_path):
    path = _write(tmp_path, "c.csv", b"email\na@example.com,surprise\n")
    assert next(iter(read_records(path)))[1] == {"email": "a@example.com",
                                                  EXTRA_CELLS_KEY: ["surprise"]}


def test_bytes_that_break_the_encoding_after_the_sample_fail_the_file_clearly(tmp_path):
    data = b"email\n" + b"a@example.com\n" * (SAMPLE_BYTES // 14 + 1) + "张伟\n".encode("gbk")
    path = _write(tmp_path, "c.csv", data)
    with pytest.raises(SourceError, match=r"not valid utf-8.*save the file as UTF-8"):
        list(read_records(path))


@pytest.mark.parametrize("wrap", [lambda rows: rows, lambda rows: {"records": rows}])
def test_json_list_or_records_object_is_numbered_from_one(tmp_path, wrap):
    rows = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    path = _write(tmp_path, "c.json", json.dumps(wrap(rows)).encode())
    assert list(read_records(path)) == [(1, rows[0]), (2, rows[1])]


def test_json_items_that_are_not_objects_are_still_yielded_for_the_mapping_to_report(tmp_path):
    path = _write(tmp_path, "c.json", b'[{"email": "a@example.com"}, "oops"]')
    assert list(read_records(path))[1] == (2, "oops")


@pytest.mark.parametrize(("name", "data", "message"), [
    ("c.json", b'{"customers": []}', "expected a list of records"),
    ("c.json", b"[{", "not valid JSON"),
    ("c.xlsx", b"PK", "not an Excel workbook"),
    ("c.xls", b"\xd0\xcf", "unsupported file type"),
])
def test_unreadable_files_raise_source_error(tmp_path, name, data, message):
    with pytest.raises(SourceError, match=message):
        list(read_records(_write(tmp_path, name, data)))
