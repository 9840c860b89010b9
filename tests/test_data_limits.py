"""Reading a stranger's labelled file is bounded: caps on rows and bytes, Parquet refused from its
footer and dictionaries, the app's check in a child process with a memory and a time limit, one at
a time; and bad files fail loudly, naming file, line and column."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demo.services import data_check, own_data
from demo.services.data_check import CheckBusy, DataChecker
from sentiment_core.config import TrainConfig
from sentiment_core.data import DataError, inspect_table, load_corpus
from sentiment_core.data.limits import CAPS, MAX_CELL_BYTES, caps_markdown

ROOT = Path(__file__).resolve().parent.parent


def hostile_parquet(path: Path, rows: int = 400_000, text_bytes: int = 200_000) -> Path:
    """A zstd Parquet whose text column is a dictionary of one long string on every row (~80 GB decoded,
    a few KB on disk), built without ever holding more than one copy of the string."""
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array(["x" * text_bytes]))
    label = pa.DictionaryArray.from_arrays(pa.array((np.arange(rows) % 2).astype(np.int32)), pa.array(["neg", "pos"]))
    pq.write_table(pa.table({"text": text, "label": label}), path, compression="zstd")
    return path


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_parquet_bomb_is_refused_in_a_moment_without_decoding_it(tmp_path):
    path = hostile_parquet(tmp_path / "bomb.parquet")
    assert path.stat().st_size < 50_000
    before, start = rss_mb(), time.monotonic()
    with pytest.raises(DataError, match=r"bomb\.parquet: its first [\d,]+ rows hold [\d,]+ bytes .* at most 1 GiB"):
        inspect_table(path)
    assert time.monotonic() - start < 5
    assert rss_mb() - before < 200  # nothing near the 80 GB it would decode to


def test_the_apps_check_refuses_the_bomb_in_a_child_and_the_server_does_not_grow(tmp_path):
    path = hostile_parquet(tmp_path / "bomb.parquet")
    before, start = rss_mb(), time.monotonic()
    with pytest.raises(DataError, match="at most 1 GiB"):
        DataChecker().check(path)
    assert time.monotonic() - start < 60  # most of it is the child importing torch
    assert rss_mb() - before < 50


def test_the_memory_limit_lets_the_imports_and_a_good_file_through_and_stops_a_greedy_read(tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": [f"good film {i}" for i in range(40)] + [f"bad film {i}" for i in range(40)],
                             "label": ["pos"] * 40 + ["neg"] * 40}), good)
    table = DataChecker().check(good)
    assert len(table) == 80 and table.classes == ["neg", "pos"] and table.path == good
    # A Parquet file within every cap, read under a tiny heap limit: the limit, not the server, gives way.
    with pytest.raises(DataError, match=r"good\.parquet: reading it needs more than 0 MiB of memory"):
        DataChecker(memory=1).check(good)


def test_a_check_that_takes_too_long_is_killed(tmp_path, monkeypatch):
    path = tmp_path / "ok.csv"
    path.write_text("text,label\na,x\nb,y\n")
    with pytest.raises(DataError, match=r"ok\.csv: checking it took longer than 0\.01 s"):
        DataChecker(seconds=0.01).check(path)


def test_checks_run_one_at_a_time_and_the_queue_is_bounded(tmp_path, monkeypatch):
    checker = DataChecker(waiting=1)
    release, running = threading.Event(), []

    def slow_run(path, columns, max_classes):
        running.append(path)
        release.wait(10)
        return path

    monkeypatch.setattr(checker, "_run", slow_run)
    threads = [threading.Thread(target=checker.check, args=(f"f{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert running == ["f0"]  # the second waits its turn
    with pytest.raises(CheckBusy, match="busy with other files; try again"):
        checker.check("f2")
    release.set()
    for thread in threads:
        thread.join()
    assert running == ["f0", "f1"]


def test_the_page_check_runs_in_the_child(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data_check.CHECKER, "check", lambda *a, **k: calls.append(a) or inspect_table(*a, **k))
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"good {i},pos\nbad {i},neg\n" for i in range(20)))
    own_data.check_file(None, "d.csv", "", "", tmp_path)
    assert calls and Path(calls[0][0]) == data


@pytest.mark.parametrize("content, message", [
    ("text,split,label\n" + "".join(f"t{i},test,{'ab'[i % 2]}\n" for i in range(40)), "names no row 'train'"),
    ("text,split,label\n" + "".join(f"t{i},train,a\nu{i},train,b\n" for i in range(20)) + "v,test,c\nw,test,c\n",
     "no training row has class 'c'"),
])
def test_the_check_refuses_what_training_would(tmp_path, content, message):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        DataChecker().check(path)


def test_cells_rows_and_json_lines_are_capped(tmp_path):
    long = "w " * (MAX_CELL_BYTES.value // 2 + 1)
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "fine", "label": "a"}) + "\n"
                                      + json.dumps({"text": long, "label": "b"}) + "\n")
    with pytest.raises(DataError, match=r"a\.jsonl, row 2 \(line 2\), column 'text': a cell of [\d,]+ bytes"):
        inspect_table(tmp_path / "a.jsonl")
    (tmp_path / "b.csv").write_text(f"text,label\nfine,a\n{long},b\n")
    with pytest.raises(DataError, match=r"b\.csv, line 3: a field longer than 1 MiB"):
        inspect_table(tmp_path / "b.csv")
    rows = pa.table({"text": ["t"] * 1_000_001, "label": ["a", "b"] * 500_000 + ["a"]})
    pq.write_table(rows, tmp_path / "c.parquet")
    with pytest.raises(DataError, match=r"c\.parquet: 1,000,001 rows by its metadata; at most 1,000,000 rows"):
        inspect_table(tmp_path / "c.parquet")


def test_the_caps_are_one_table_stated_in_the_readme():
    table = caps_markdown()
    assert all(cap.what in table for cap in CAPS)
    readme = (ROOT / "README.md").read_text()
    assert table in readme


def test_deep_json_nul_names_and_odd_labels_fail_with_file_line_and_column(tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "a", "label": 1}\n' + '{"text": "b", "label": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    with pytest.raises(DataError, match=r"deep\.jsonl, line 2: lists or objects nested too deep"):
        inspect_table(deep)
    with pytest.raises(DataError, match="NUL"):
        inspect_table(str(tmp_path / "a\0b.csv"))
    with pytest.raises(ValueError, match="NUL"):
        TrainConfig(data=str(tmp_path / "a\0b.csv"))
    with pytest.raises(own_data.DataSourceError, match="NUL"):
        own_data.check_file(None, "a\0b.csv", "", "", tmp_path)
    nul = tmp_path / "nul.csv"
    nul.write_text("te\0xt,label\na,1\n")
    with pytest.raises(DataError, match=r"nul\.csv: the name of column 1 .* holds a NUL character"):
        inspect_table(nul)
    cases = tmp_path / "case.csv"
    cases.write_text("text,label\na,pos\nb,neg\nc,Pos\n")
    with pytest.raises(DataError, match=r"case\.csv, column 'label': labels 'pos' \(row 1 \(line 2\)\), 'Pos' "
                                        r"\(row 3 \(line 4\)\) differ only in case"):
        inspect_table(cases)


def test_numbers_are_one_class_however_written(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("text,label\na,1\nb,01\nc,+1\nd,1.0\ne, 1 \nf,0\ng,-0\nh,0.0\n")
    table = inspect_table(path)
    assert table.classes == ["0", "1"] and table.labels == [1, 1, 1, 1, 1, 0, 0, 0]
    flags = tmp_path / "f.csv"
    flags.write_text("text,label\na,TRUE\nb,false\nc,True\n")
    assert inspect_table(flags).classes == ["false", "true"]  # kept, as words, when no number is beside them


def test_classes_are_capped_at_max_classes(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("text,label\n" + "".join(f"t{i},c{i}\n" for i in range(60)))
    with pytest.raises(DataError, match=r"more than 50 distinct labels by row 51 .* --max-classes \(up to 1,000\)"):
        inspect_table(path)
    assert len(inspect_table(path, max_classes=60).classes) == 60
    assert TrainConfig().max_classes == 50


def test_a_capped_run_tokenizes_only_its_own_rows(tmp_path, monkeypatch):
    from sentiment_core.data import corpus

    path = tmp_path / "big.csv"
    path.write_text("text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(500)))
    counted = []
    real = corpus.tokenize_stream
    monkeypatch.setattr(corpus, "tokenize_stream",
                        lambda texts, n, progress: counted.append(n) or real(texts, n, progress))
    cfg = TrainConfig(data=str(path), cache_dir=str(tmp_path / "cache"), max_train_samples=40, max_eval_samples=20)
    loaded = load_corpus(cfg)
    assert len(loaded.train) == 40 and len(loaded.val) == 20 and len(loaded.test) == 20
    assert counted == [80] and not (tmp_path / "cache" / "tokens").exists()
    words = {tuple(t) for t in loaded.train.items}
    assert all(t[0] in ("good", "bad") for t in words)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("rank, world", [(0, 2), (5, 2)])
def test_a_wrong_torchrun_environment_fails_quickly_with_the_reason(rank, world):
    env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": "0", "WORLD_SIZE": str(world),
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "CUDA_VISIBLE_DEVICES": ""}
    code = ("import datetime as dt; from sentiment_core import distributed as d; "
            "d.JOIN_TIMEOUT = dt.timedelta(seconds=3); d.from_env('cpu')")
    start = time.monotonic()
    try:
        run = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("from_env hung instead of failing")
    assert run.returncode != 0 and time.monotonic() - start < 60
    expected = "only 1 of WORLD_SIZE=2 processes started" if rank == 0 else "RANK=5, LOCAL_RANK=0, WORLD_SIZE=2"
    assert expected in run.stderr, run.stderr[-2000:]


def test_tables_of_many_classes_show_twenty_and_sum_up_the_rest():
    from sentiment_core.report import class_table, confusion_table

    k = 1000
    confusion = [[(5 if p == t else 1) if p in (t, (t + 1) % k) else 0 for p in range(k)] for t in range(k)]
    confusion[999][999] = 50  # the class with most reviews is shown, wherever it is
    labels = [f"class {c}" for c in range(k)]
    tables = confusion_table(confusion, labels=labels), class_table({"loss": 0.0, "confusion": confusion}, labels)
    for table in tables:
        assert len(table) < 10_000 and "class 999" in table
        assert table.count("\n|") <= 22
        assert table.endswith("980 more classes with fewer reviews are left out of this table: 5,880 reviews, "
                              "4,900 of them classified right.")
