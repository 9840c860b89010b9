"""Batch mode's handlers called directly: only uploaded files are read, hostile files are refused fast."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd
import pytest
from gradio.context import LocalContext

from demo.services import UserInputError, batch
from demo.services import uploads as up
from demo.tabs import inputs


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Stands in for Gradio's upload folder."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def write(path: Path, data: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(UserInputError) as info:
        call(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------------------------------------
# Only files uploaded to the app are read


@pytest.fixture
def hostile_paths(tmp_path: Path, uploads: Path) -> dict[str, str]:
    """Paths a caller can name through the API; none of them is an upload."""
    secret = Path(write(tmp_path / "secret.txt", "password: hunter2\n"))
    (uploads / "link.txt").symlink_to(secret)
    (uploads / "folder.csv").mkdir()
    (uploads / "inner").mkdir()
    return {
        "system file": "/etc/passwd",
        "file outside": str(secret),
        "missing outside": str(tmp_path / "missing.txt"),
        "missing inside": str(uploads / "missing.txt"),
        "folder inside": str(uploads / "folder.csv"),
        "the upload folder": str(uploads),
        "symlink inside pointing out": str(uploads / "link.txt"),
        "dot-dot traversal": str(uploads / "inner" / ".." / ".." / "secret.txt"),
        "relative path": os.path.relpath(secret),
        "NUL byte": str(uploads / "a\x00.txt"),
    }


def test_every_path_outside_the_upload_folder_gets_the_same_refusal(registry, uploads, hostile_paths):
    messages = {}
    for what, path in hostile_paths.items():
        messages[what] = refusal(up.read_reviews, path, allowed_root=uploads)
        assert refusal(batch.classify_file, registry, "shipped/default", path, allowed_root=uploads) == messages[what]
    assert set(messages.values()) == {up.REFUSED_MESSAGE}, messages
    assert "hunter2" not in up.REFUSED_MESSAGE and "root:" not in up.REFUSED_MESSAGE


def test_files_inside_the_upload_folder_are_read(uploads, tmp_path):
    path = write(uploads / "abc123" / "reviews.txt", "Loved it.\nHated it.\n")
    assert up.read_reviews(path, allowed_root=uploads)[0]["text"].tolist() == ["Loved it.", "Hated it."]
    # The root may itself be reached through a symlink (/tmp on macOS is one).
    (tmp_path / "uploads-link").symlink_to(uploads)
    assert len(up.read_reviews(tmp_path / "uploads-link" / "abc123" / "reviews.txt",
                               allowed_root=tmp_path / "uploads-link")[0]) == 2
    assert len(up.read_reviews(path, allowed_root=tmp_path / "uploads-link")[0]) == 2


def test_inside_a_gradio_request_only_files_received_by_the_upload_route_are_read(uploads):
    """A mounted app's Gradio copies any server file a caller names into the upload folder first."""
    uploaded = write(uploads / "a" / "reviews.txt", "Loved it.\n")
    copied = write(uploads / "b" / "secret.txt", "password hunter2\n")
    token = LocalContext.blocks.set(SimpleNamespace(upload_file_set={uploaded}))
    try:
        received = inputs.received_by_gradio
        assert up.read_reviews(uploaded, uploads, received)[0]["text"].tolist() == ["Loved it."]
        assert refusal(up.read_reviews, copied, uploads, received) == up.REFUSED_MESSAGE
    finally:
        LocalContext.blocks.reset(token)


@pytest.mark.parametrize("record", [SimpleNamespace(), None], ids=["no upload record", "outside a request"])
def test_without_gradios_record_of_uploads_no_file_is_read(uploads, monkeypatch, record):
    """Fails closed: a Gradio without ``upload_file_set`` (or no request at all) vouches for no file."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    uploaded = write(uploads / "a" / "reviews.txt", "Loved it.\n")
    token = LocalContext.blocks.set(record)
    try:
        assert not inputs.received_by_gradio(uploaded)
        assert refusal(up.read_reviews, uploaded, **inputs.gradio_uploads()) == up.REFUSED_MESSAGE
        assert refusal(up.read_reviews, uploaded) == up.REFUSED_MESSAGE  # no folder named: nothing is read
    finally:
        LocalContext.blocks.reset(token)


def test_the_default_root_is_gradios_upload_folder(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-uploads"))
    inside = write(tmp_path / "gradio-uploads" / "abc" / "reviews.txt", "Loved it.\n")
    outside = write(tmp_path / "elsewhere" / "reviews.txt", "Loved it.\n")
    token = LocalContext.blocks.set(SimpleNamespace(upload_file_set={inside, outside, "/etc/passwd"}))
    try:
        table, _, message = batch.classify_file(registry, "shipped/default", inside, tmp_path / "out",
                                                **inputs.gradio_uploads())
        assert len(table) == 1 and "Classified 1 review from" in message
        for path in (outside, "/etc/passwd"):
            assert refusal(batch.classify_file, registry, "shipped/default", path,
                           **inputs.gradio_uploads()) == up.REFUSED_MESSAGE
    finally:
        LocalContext.blocks.reset(token)


# ---------------------------------------------------------------------------------------------
# Hostile shapes are refused before the work


def test_a_csv_with_half_a_million_columns_is_refused_in_well_under_a_second(uploads):
    columns = 550_000
    data = ",".join(f"c{i:x}" for i in range(columns)) + "\n" + ",".join("1" * columns) + "\n"
    assert len(data) < up.MAX_BATCH_BYTES
    path = write(uploads / "wide.csv", data)
    start = time.perf_counter()
    message = refusal(up.read_reviews, path, allowed_root=uploads)
    elapsed = time.perf_counter() - start
    assert f"{columns:,} columns; the limit is {up.MAX_BATCH_COLUMNS}" in message
    assert elapsed < 5, f"refusing took {elapsed:.1f} s"  # generous: it took 130 s before the check


def test_rows_wider_than_the_header_are_refused_quickly(uploads):
    path = write(uploads / "wide-row.csv", "text\nLoved it.\n" + ",x" * 500_000 + "\n")
    start = time.perf_counter()
    assert "not a well-formed CSV" in refusal(up.read_reviews, path, allowed_root=uploads)
    assert time.perf_counter() - start < 5


def test_the_column_limit_counts_csv_fields_not_commas(uploads):
    at_limit = ",".join(f"c{i}" for i in range(up.MAX_BATCH_COLUMNS - 1)) + ",text\n" + "1," * 199 + "Fine.\n"
    assert up.read_reviews(write(uploads / "ok.csv", at_limit), allowed_root=uploads)[1] == "text"
    over = ",".join(f"c{i}" for i in range(up.MAX_BATCH_COLUMNS)) + ",text\n"
    assert "201 columns" in refusal(up.read_reviews, write(uploads / "over.csv", over), allowed_root=uploads)
    quoted = '"' + "a," * 300 + '",text\n1,Loved it.\n'  # 300 commas inside one quoted name
    assert up.read_reviews(write(uploads / "quoted.csv", quoted), allowed_root=uploads)[1] == "text"


def test_too_many_rows_are_refused_without_parsing_them_all(uploads):
    csv_path = write(uploads / "rows.csv", "id,text\n" + "1,Nice film.\n" * 100_000)
    assert "more than 5,000 rows" in refusal(up.read_reviews, csv_path, allowed_root=uploads)
    txt_path = write(uploads / "many.txt", "Nice film.\n" * 5_001)
    assert "5,001 reviews; the limit is 5,000" in refusal(up.read_reviews, txt_path, allowed_root=uploads)


# ---------------------------------------------------------------------------------------------
# What batch mode does with ordinary files (from uploads/)


def test_batch_txt_one_review_per_line(registry, uploads, tmp_path):
    texts = ["A wonderful film, I loved it.", "Dreadful. Boring and far too long.", "It was fine."]
    path = write(uploads / "reviews.txt", "\n".join(texts[:2]) + "\n\n   \n" + texts[2] + "\n")
    table, csv_path, message = batch.classify_file(registry, "shipped/default", path, tmp_path / "out", uploads)
    assert table["review"].tolist() == texts  # blank lines skipped
    predictor = registry.predictor("shipped/default")
    expected = [p["positive"] for p in predictor.predict_batch(texts)]
    assert table["P(positive)"].tolist() == pytest.approx(expected, abs=1e-3)
    saved = pd.read_csv(csv_path)
    assert saved.columns.tolist() == ["text", "prediction", "p_positive", "known_words"] and len(saved) == 3
    assert Path(csv_path).parent.parent == tmp_path / "out"
    assert "Classified 3 reviews" in message


def test_batch_csv_prefers_a_named_text_column_and_keeps_the_others(registry, uploads, tmp_path):
    frame = pd.DataFrame({"id": [7, 8], "title": ["x", "y"], "Review": ["Loved it.", "Hated it."]})
    path = write(uploads / "r.csv", frame.to_csv(index=False))
    table, csv_path, _ = batch.classify_file(registry, "shipped/default", path, tmp_path / "out", uploads)
    assert table["review"].tolist() == ["Loved it.", "Hated it."]
    saved = pd.read_csv(csv_path)
    assert saved.columns.tolist() == ["id", "title", "Review", "prediction", "p_positive", "known_words"]
    assert saved["id"].tolist() == [7, 8]


def test_batch_csv_falls_back_to_the_first_string_column(uploads):
    frame = pd.DataFrame({"stars": [1, 10], "score": [0.5, ""], "comment": ["Awful.", "Superb."], "note": ["a", "b"]})
    table, column = up.read_reviews(write(uploads / "r.csv", frame.to_csv(index=False)), allowed_root=uploads)
    assert column == "comment" and table["comment"].tolist() == ["Awful.", "Superb."]


def test_rows_without_words_are_skipped_like_blank_ones(registry, uploads, tmp_path):
    path = write(uploads / "r.csv", 'id,text\n1,Loved it.\n2,<br /><br />\n3,"  "\n4,Hated it.\n')
    table, csv_path, message = batch.classify_file(registry, "shipped/default", path, tmp_path / "out", uploads)
    assert table["review"].tolist() == ["Loved it.", "Hated it."] and "Classified 2 reviews" in message
    assert pd.read_csv(csv_path)["id"].tolist() == [1, 4]


def test_a_review_whose_only_words_the_character_limit_cuts_is_a_clear_error(registry, uploads):
    hidden = "<br /> " * 2_000 + "Superb. " + "<br /> " * 2_000
    path = write(uploads / "r.txt", "Loved it.\n" + hidden + "\n")
    assert "text 2 has no words" in refusal(batch.classify_file, registry, "shipped/default", path, None, uploads)


@pytest.mark.parametrize(("name", "data", "message"), [
    ("r.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("r.txt", "Tr\u00e8s bon film, vraiment g\u00e9nial".encode("latin-1"), "not UTF-8"),
    ("r.txt", b"", "holds no reviews"),
    ("r.txt", b"\n  \n<br />\n", "holds no reviews"),
    ("r.csv", b"", "empty"),
    ("r.csv", b"a,b\n1,2\n3,4\n", "No text column"),
    ("r.csv", b'text\n"unclosed quote\n', "not a well-formed CSV"),
    ("r.pdf", b"%PDF-1.4", "upload a .txt"),
    ("big.txt", b"Nice film.\n" * 500_000, "the limit is 5 MB"),
])
def test_batch_rejects_malformed_files_with_a_clear_message(registry, uploads, name, data, message):
    path = write(uploads / name, data)
    assert message in refusal(batch.classify_file, registry, "shipped/default", path, None, uploads)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("name", ["r.txt", "r.csv"])
def test_files_in_utf16_utf32_or_with_a_byte_order_mark_are_read(uploads, encoding, name):
    """Windows editors save "Unicode" as UTF-16 with a byte-order mark, and Excel's CSV UTF-8 with one."""
    texts = ["Très bon film, vraiment génial.", "Dreadful — boring and far too long.", "素晴らしい映画"]
    content = "\n".join(texts) if name.endswith(".txt") else "id,review\n" + "".join(
        f'{i},"{t}"\n' for i, t in enumerate(texts))
    table, column = up.read_reviews(write(uploads / name, content.encode(encoding)), allowed_root=uploads)
    assert column in ("text", "review") and table[column].tolist() == texts
    if name.endswith(".csv"):
        assert table.columns.tolist() == ["id", "review"]  # no byte-order mark left in the first name


def test_a_binary_file_with_zero_bytes_on_both_sides_is_still_refused(uploads):
    path = write(uploads / "r.txt", bytes(range(256)) * 40)
    assert "binary" in refusal(up.read_reviews, path, allowed_root=uploads)


def test_a_broken_utf16_file_is_a_clear_error(uploads):
    path = write(uploads / "r.txt", b"\xff\xfe" + "Fine film".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    assert "is not UTF-16 text" in refusal(up.read_reviews, path, allowed_root=uploads)


def test_refusals_log_one_line_and_no_traceback(uploads, caplog):
    path = write(uploads / "r.csv", b"a,b\n1,2\n")
    with caplog.at_level("INFO", logger="demo.tabs.inputs"), pytest.raises(gr.Error) as info, inputs.refusing():
        up.read_reviews(path, allowed_root=uploads)
    assert [r.getMessage() for r in caplog.records] == [f"refused: {info.value.message}"]
    assert info.value.print_exception is False  # Gradio prints no traceback for it


def test_batch_summary_counts_and_quotes_the_column(registry, uploads, tmp_path):
    path = write(uploads / "r.csv", 'id,"my `odd` <column>"\n1,Loved it.\n')
    _, _, message = batch.classify_file(registry, "shipped/default", path, tmp_path / "out", uploads)
    assert message.startswith("Classified 1 review from column ``my `odd` <column>`` with `shipped/default`: ")


def test_batch_without_a_file_or_a_model(registry):
    assert batch.classify_file(registry, "shipped/default", None)[:2] == (None, None)
    assert "No model" in refusal(batch.classify_file, registry, None, "/etc/passwd")


def test_old_batch_results_are_pruned_so_the_disk_stays_bounded(tmp_path):
    old, recent = tmp_path / "batch-old", tmp_path / "batch-recent"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "r-predictions.csv").write_text("text,prediction\n")
    os.utime(old, (0, 0))
    batch.prune_results(tmp_path)
    assert not old.exists() and recent.exists()


def test_cells_a_spreadsheet_would_evaluate_are_written_with_a_leading_quote(registry, uploads, tmp_path):
    hostile = ["=HYPERLINK(\"http://x\",\"y\") great film", "+1 loved it", "-2 dull", "@SUM(A1) fine",
               "\tbad", "\r=1+1 ok"]
    frame = pd.DataFrame({"text": hostile, "=cmd|' /C calc'!A0": ["=1", "@a", "+b", "-c", "ok", "x"]})
    path = write(uploads / "r.csv", frame.to_csv(index=False))
    _, csv_path, _ = batch.classify_file(registry, "shipped/default", path, tmp_path / "out", uploads)
    written = pd.read_csv(csv_path, keep_default_na=False)
    assert list(written.columns)[:2] == ["text", "'=cmd|' /C calc'!A0"]
    for column in list(written.columns)[:2]:
        assert all(not str(cell).startswith(batch.FORMULA_STARTS) for cell in written[column]), written[column]
    assert written["text"][0] == "'" + hostile[0]
    assert written.columns[-2].startswith("p_") and written[written.columns[-2]].dtype.kind == "f"
