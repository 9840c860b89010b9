"""Progress that never looks hung: the word vectors and tokenizing report counts, and name their pass."""

import threading
import time

import pytest

from demo.services.child import stage_line
from sentiment_core import preset, train
from sentiment_core.cli_options import ProgressBars
from sentiment_core.data import load_corpus
from sentiment_core.embeddings import COUNT_STAGE, SVD_STAGE
from sentiment_core.heartbeat import with_progress
from sentiment_core.training import Progress
from tests.test_data import make_imdb_folder


def run(generator):
    """The events of a ``with_progress`` generator, and its return value."""
    events = []
    while True:
        try:
            events.append(next(generator))
        except StopIteration as end:
            return events, end.value


def test_a_long_silent_step_still_reports_every_interval():
    def work(progress):
        progress("sorting", 1, 2)
        time.sleep(0.5)  # no report for 0.5 s, e.g. one long sort
        progress("sorting", 2, 2)
        return "done"

    events, value = run(with_progress(work, threading.Event(), lambda stage: "steps", every=0.1))
    assert value == "done"
    assert len(events) >= 4  # about one per 0.1 s of the silent step
    assert all(e.stage == "sorting" and e.unit == "steps" for e in events)
    assert events[-1].done == 2 and events[-1].elapsed_s >= 0.5


def test_the_stop_flag_ends_the_work_at_its_next_report_and_errors_reach_the_caller():
    stop = threading.Event()
    stop.set()
    _, value = run(with_progress(lambda progress: progress("x", 1, 1) or "never", stop, str, every=0.05))
    assert value is None

    def broken(progress):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run(with_progress(broken, threading.Event(), str, every=0.05))


def test_a_tiny_run_reports_both_word_vector_passes_by_name(tmp_path, synthetic_data):
    model_cfg, train_cfg = preset("quick", data=str(synthetic_data), pretrain_embeddings=True, epochs=1,
                                  output=str(tmp_path / "p.safetensors"), cache_dir=str(tmp_path / "cache"))
    events = list(train(model_cfg, train_cfg, load_corpus(train_cfg)))
    progress = [e for e in events if isinstance(e, Progress)]
    assert {e.stage for e in progress} == {COUNT_STAGE, SVD_STAGE}
    assert "pass 1 of 2" in COUNT_STAGE and "pass 2 of 2" in SVD_STAGE
    counting = [e for e in progress if e.stage == COUNT_STAGE]
    svd = [e for e in progress if e.stage == SVD_STAGE]
    assert counting[-1].unit == "reviews" and counting[-1].done == counting[-1].total == 600
    assert svd[-1].unit == "steps" and svd[-1].done == svd[-1].total
    assert progress.index(counting[-1]) < progress.index(svd[0])  # pass 1, then pass 2
    assert events[-1].status == "finished"


def test_two_tokenizing_passes_name_their_pass(tmp_path):
    folder = make_imdb_folder(tmp_path / "src", unlabeled=30)
    seen = []
    _, cfg = preset("quick", data=str(folder), pretrain_embeddings=True, cache_dir=str(tmp_path / "cache"),
                    max_train_samples=0, max_eval_samples=0, val_fraction=0.5)
    load_corpus(cfg, progress=lambda stage, done, total: seen.append(stage))
    stages = [s for s in dict.fromkeys(seen) if "tokeniz" in s]
    assert stages == ["tokenizing, pass 1 of 2: labelled reviews", "tokenizing, pass 2 of 2: unlabeled reviews"]


def test_the_cli_bar_of_a_stage_that_runs_again_starts_a_new_bar():
    bars = ProgressBars()
    bars("tokenize", 10, 10)
    first = bars.bars["tokenize"]
    bars("tokenize", 3, 20)
    assert bars.bars["tokenize"] is not first and bars.bars["tokenize"].n == 3
    bars(SVD_STAGE, 2, 11, "steps")
    assert bars.bars[SVD_STAGE].unit == " steps"


def test_the_app_status_line_shows_the_counts():
    assert stage_line(COUNT_STAGE, 1200, 5000, "reviews") == f"{COUNT_STAGE} 1,200/5,000 reviews"
    assert stage_line("reading", 2_000_000, 80_000_000, "B") == "reading 2.0/80.0 MB of the IMDB archive"
