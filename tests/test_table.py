"""Your own labelled files: four formats, columns by name or option, splits, and a clear error for bad data."""

import json
import logging
from collections import Counter

import pandas as pd
import pytest

from sentiment_core.config import TrainConfig
from sentiment_core.data import DataError, TokenLists, inspect_table, is_table, load_corpus
from sentiment_core.data.table import MIN_CLASS_EXAMPLES

WORDS = {"neg": "dull awful", "neu": "fine average", "pos": "great superb"}


def rows(n: int = 90) -> list[tuple[str, str]]:
    """n (text, label) pairs, three classes in turn."""
    labels = list(WORDS)
    return [(f"Review {i}: a {WORDS[labels[i % 3]]} film.", labels[i % 3]) for i in range(n)]


def write(path, frame: pd.DataFrame):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix in (".jsonl", ".json"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("name", ["data.csv", "data.tsv", "data.jsonl", "data.json", "data.parquet"])
def test_every_format_reads_the_same_rows(tmp_path, name):
    frame = pd.DataFrame(rows(), columns=["Review", "Sentiment"])
    table = inspect_table(write(tmp_path / name, frame))
    assert is_table(tmp_path / name)
    assert (table.text_column, table.label_column, table.split_column) == ("Review", "Sentiment", "")
    assert table.classes == ["neg", "neu", "pos"] and len(table) == 90
    assert [table.classes[y] for y in table.labels] == frame["Sentiment"].tolist()
    corpus = load_corpus(TrainConfig(data=str(tmp_path / name), cache_dir=str(tmp_path / "cache")))
    assert isinstance(corpus.train.items, TokenLists) and corpus.classes == ["neg", "neu", "pos"]
    everything = corpus.train.ids + corpus.val.ids + corpus.test.ids
    assert sorted(everything, key=int) == [str(i) for i in range(1, 91)]  # ids are row numbers
    row = int(corpus.train.ids[0])
    assert corpus.train.items[0] == ["Review", f"{row - 1}", ":", "a", *WORDS[frame["Sentiment"][row - 1]].split(),
                                     "film", "."]


def test_without_a_split_column_the_split_is_stratified_and_seeded(tmp_path):
    path = write(tmp_path / "d.csv", pd.DataFrame(rows(300), columns=["text", "label"]))
    cfg = TrainConfig(data=str(path), cache_dir=str(tmp_path), test_fraction=0.2, val_fraction=0.1)
    corpus = load_corpus(cfg)
    assert (len(corpus.test), len(corpus.val), len(corpus.train)) == (60, 24, 216)
    assert Counter(corpus.test.labels) == {0: 20, 1: 20, 2: 20}
    assert Counter(corpus.val.labels) == {0: 8, 1: 8, 2: 8}
    assert load_corpus(cfg).test.ids == corpus.test.ids  # seeded
    assert load_corpus(TrainConfig(data=str(path), cache_dir=str(tmp_path), seed=9)).test.ids != corpus.test.ids
    assert "stratified" in corpus.description and "d.csv" in corpus.description


def test_a_split_column_is_honoured_and_validation_comes_off_train_when_missing(tmp_path):
    frame = pd.DataFrame(rows(120), columns=["text", "label"])
    frame["split"] = ["train"] * 90 + ["Test"] * 30
    corpus = load_corpus(TrainConfig(data=str(write(tmp_path / "d.jsonl", frame)), cache_dir=str(tmp_path)))
    assert corpus.test.ids == [str(i) for i in range(91, 121)]
    assert len(corpus.val) == 9 and len(corpus.train) == 81
    frame["split"] = ["train"] * 80 + ["dev"] * 20 + ["test"] * 20
    corpus = load_corpus(TrainConfig(data=str(write(tmp_path / "e.jsonl", frame)), cache_dir=str(tmp_path)))
    assert (corpus.val.ids[0], len(corpus.val), len(corpus.train)) == ("81", 20, 80)


def test_columns_can_be_named_and_integer_labels_sort_as_numbers(tmp_path):
    frame = pd.DataFrame({"id": range(60), "body_text": [t for t, _ in rows(60)],
                          "stars": [10, 2, 9] * 20})
    path = write(tmp_path / "d.parquet", frame)
    with pytest.raises(DataError, match=r"no text column.*'id', 'body_text', 'stars'.*--text-column"):
        inspect_table(path)
    table = inspect_table(path, text_column="body_text")
    assert table.label_column == "stars" and table.classes == ["2", "9", "10"]
    with pytest.raises(DataError, match="has no column 'nope' \\(given as --label-column\\)"):
        inspect_table(path, text_column="body_text", label_column="nope")


def test_labels_two_and_two_point_oh_are_one_class(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\na,2\nb,2.0\nc, 2 \nd,1\n")
    assert inspect_table(tmp_path / "d.csv").classes == ["1", "2"]
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": 2}\n{"text": "b", "label": 2.0}\n'
                                      '{"text": "c", "label": true}\n')
    with pytest.raises(DataError, match=r"labels mix true/false \('true', row 3 \(line 3\)\) with numbers"):
        inspect_table(tmp_path / "d.jsonl")  # is true 1 or a class of its own? Refused, not guessed


BAD = {
    "not UTF-8": (b"text,label\nfine film,pos\ncaf\xe9 noir,neg\n", "is not UTF-8 text: byte 0xe9 at line 3"),
    "a label missing": (b"text,label\ngood,pos\nbad,\nok,neg\nmeh,\n",
                        "column 'label' has no label in row 2 \\(line 3\\), row 4 \\(line 5\\) of 4 rows"),
    "one class": (b"text,label\ngood,pos\nbad,pos\n", "column 'label' holds one class only \\('pos'\\)"),
    "numbers as text": (b"text,label\n1,pos\n2,neg\n3.5,neg\n", "column 'text' holds only numbers, not texts"),
    "an empty text": (b"text,label\nhi,1\n  ,0\n", "column 'text' is empty \\(no text\\) in row 2 \\(line 3\\)"),
    "a short row": (b"text,label\nhi,1\nno label here\n", "row 2 \\(line 3\\): 1 fields, the header has 2"),
    "no rows": (b"text,label\n", "has a header but no rows"),
    "empty": (b"", "is empty: expected a header row"),
    "no label column": (b"text,y_true\nhi,1\n", "has no label column: none of its columns \\('text', 'y_true'\\)"),
    "an unknown split": (b"text,label,split\na,1,train\nb,0,holdout\n",
                         "column 'split' is not train, validation or test in row 2 \\(line 3\\) \\('holdout'\\)"),
    "a text as label": (b"text,label\na," + b"x" * 200 + b"\n", "the label in column 'label' is 200 characters long"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_is_a_clear_error_naming_the_file_and_the_row_or_column(tmp_path, case):
    content, message = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"^{path!s}.*{message}"):
        load_corpus(TrainConfig(data=str(path), cache_dir=str(tmp_path)))


def test_bad_json_lines_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: not valid JSON"):
        inspect_table(path)
    path.write_text('{"text": 5, "label": 1}\n{"text": "b", "label": 0}\n')
    with pytest.raises(DataError, match="column 'text' holds numbers, not texts, in row 1 \\(line 1\\)"):
        inspect_table(path)
    path.write_text('[{"text": "a", "label": 1}]\n')
    with pytest.raises(DataError, match="holds a JSON array; save it as JSON Lines"):
        inspect_table(path)


def test_a_parquet_column_of_numbers_is_not_a_text_column(tmp_path):
    path = write(tmp_path / "d.parquet", pd.DataFrame({"text": [1.5, 2.5], "label": ["a", "b"]}))
    with pytest.raises(DataError, match="column 'text' holds numbers, not texts, in row 1, row 2"):
        inspect_table(path)
    (tmp_path / "x.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"x\.parquet is not a readable Parquet file"):
        inspect_table(tmp_path / "x.parquet")


def test_a_class_with_few_examples_is_warned_about(tmp_path):
    data = rows(90) + [("A rare one.", "rare")] * 3
    path = write(tmp_path / "d.csv", pd.DataFrame(data, columns=["text", "label"]))
    assert inspect_table(path).warnings == [f"{path}: class 'rare' has only 3 examples (fewer than "
                                            f"{MIN_CLASS_EXAMPLES}): too few to learn it or to measure it"]
    corpus = load_corpus(TrainConfig(data=str(path), cache_dir=str(tmp_path)))
    assert len(corpus.warnings) == 1 and "class 'rare' has" in corpus.warnings[0]


def test_a_class_with_no_training_row_is_an_error(tmp_path):
    frame = pd.DataFrame(rows(60), columns=["text", "label"])
    frame["split"] = ["train"] * 50 + ["test"] * 10
    frame.loc[59, "label"] = "only-in-test"
    with pytest.raises(DataError, match="no training row has class 'only-in-test'"):
        load_corpus(TrainConfig(data=str(write(tmp_path / "d.csv", frame)), cache_dir=str(tmp_path)))


def test_options_for_the_other_kind_of_data_are_refused(tmp_path, imdb_archive):
    path = write(tmp_path / "d.csv", pd.DataFrame(rows(30), columns=["text", "label"]))
    with pytest.raises(ValueError, match="imdb_labels='rating-bins' is for IMDB data"):
        load_corpus(TrainConfig(data=str(path), imdb_labels="rating-bins"))
    with pytest.raises(ValueError, match="column options are for a labelled"):
        load_corpus(TrainConfig(data=str(imdb_archive), text_column="review"))


def test_tokens_are_cached_by_content_and_a_changed_file_is_read_again(tmp_path, caplog):
    path = write(tmp_path / "d.csv", pd.DataFrame(rows(60), columns=["text", "label"]))
    cfg = TrainConfig(data=str(path), cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.INFO, logger="sentiment_core.data.corpus"):
        first = load_corpus(cfg)
    assert f"tokenizing {path} once" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sentiment_core.data.corpus"):
        again = load_corpus(cfg)
    assert "tokenizing" not in caplog.text and again.train.items == first.train.items
    frame = pd.DataFrame(rows(60), columns=["text", "label"])
    frame.loc[0, "text"] = "Entirely new words here."
    write(path, frame)
    with caplog.at_level(logging.INFO, logger="sentiment_core.data.corpus"):
        changed = load_corpus(cfg)
    assert "tokenizing" in caplog.text
    texts = [*changed.train.items, *changed.val.items, *changed.test.items]
    assert ["Entirely", "new", "words", "here", "."] in texts


def test_json_lines_rows_may_carry_other_fields(tmp_path):
    lines = [json.dumps({"text": t, "label": y, "meta": {"source": "x"}}) for t, y in rows(30)]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    assert len(inspect_table(tmp_path / "d.jsonl")) == 30
