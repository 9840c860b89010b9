"""Pretraining the language model on a tiny hand-built corpus: the text stream, learning, resuming,
the saved file and what loading refuses, and the ``pretrain`` command's argument handling."""

import dataclasses
import json
import math
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import sentiment_core.cli_pretrain as cli_pretrain
from sentiment_core import load_checkpoint
from sentiment_core.checkpoint import CheckpointError
from sentiment_core.cli import main
from sentiment_core.data import Corpus, Reviews, TokenLists
from sentiment_core.embeddings import ppmi_svd_vectors
from sentiment_core.events import Finished, Progress, Status, Timing
from sentiment_core.lm import LanguageModel, LMConfig
from sentiment_core.lm_checkpoint import export_encoder, load_language_model, resume_path, save_language_model
from sentiment_core.lm_text import batchify, perplexity, prepare_text, review_stream
from sentiment_core.pretrain import LMEpochEnd, LMStarted, LMStep, PretrainConfig, pretrain
from sentiment_core.vocab import Vocab

LM_CFG = LMConfig(embed_dim=8, hidden_dim=16, cutoffs="8", embed_dropout=0.0, input_dropout=0.0,
                  weight_dropout=0.0, output_dropout=0.0)
SENTENCES = ["the film was good . i liked it .", "the plot was bad . i hated it .",
             "the cast was great . we loved it .", "the story was dull . we left early ."]


def reviews(texts: list[str], prefix: str) -> Reviews:
    return Reviews([f"{prefix}/{i}" for i in range(len(texts))], [i % 2 for i in range(len(texts))],
                   TokenLists.from_lists(t.split() for t in texts))


def repetitive_corpus(n_train: int = 40) -> Corpus:
    """Reviews made of four sentences: a language model learns them in a few dozen steps."""
    train = [SENTENCES[i % 4] + " " + SENTENCES[(i + 1) % 4] for i in range(n_train)]
    val = [SENTENCES[(i + 2) % 4] for i in range(12)]
    return Corpus(train=reviews(train, "train"), val=reviews(val, "val"), test=reviews(val, "test"),
                  unlabeled=reviews(train[:8], "unsup"))


def pretrain_config(tmp_path, **overrides) -> PretrainConfig:
    values = dict(epochs=2, batch_size=4, bptt=8, lr=1e-2, warmup_steps=0, min_freq=1, device="cpu",
                  output=str(tmp_path / "lm.safetensors"))
    return PretrainConfig(**{**values, **overrides})


def run(lm_cfg: LMConfig, cfg: PretrainConfig, corpus: Corpus, stop_at: int = 0) -> list:
    """Every event of a pretraining run whose stop flag is set after step ``stop_at`` (0: never)."""
    stop = threading.Event()
    events = []
    for event in pretrain(lm_cfg, cfg, corpus, stop=stop):
        events.append(event)
        if isinstance(event, LMStep) and event.step == stop_at:
            stop.set()
    return events


def of(kind: type, events: list) -> list:
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------------------------------------
# The text stream


def test_review_stream_ends_each_review_with_pad_in_the_given_order():
    texts = TokenLists.from_lists([["A", "b", "c"], ["d", "e"], ["f", "zzz"]])
    vocab = Vocab(["<pad>", "<unk>", "a", "b", "c", "d", "e", "f"])
    assert review_stream(texts, vocab).tolist() == [2, 3, 4, 0, 5, 6, 0, 7, 1, 0]  # lowercased, unknown -> <unk>
    assert review_stream(texts, vocab, np.array([2, 0, 1])).tolist() == [7, 1, 0, 2, 3, 4, 0, 5, 6, 0]
    assert review_stream(texts, vocab).dtype == np.int64


def test_batchify_cuts_consecutive_rows_and_drops_the_remainder():
    rows = batchify(np.arange(11), 3)
    assert rows.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and rows.dtype == torch.int64
    assert batchify(np.arange(4), 4).tolist() == [[0], [1], [2], [3]]


def test_each_epoch_reads_every_review_once_shuffled_and_the_backward_model_reads_it_reversed(tmp_path):
    corpus = repetitive_corpus(12)
    corpus.train = reviews([f"review{i} says {'good' if i % 2 else 'bad'} things ." for i in range(12)], "train")
    corpus.unlabeled = None
    cfg = pretrain_config(tmp_path, batch_size=1)
    text = prepare_text(cfg, corpus)
    pad = text.vocab.pad_index
    expected = sorted(tuple(text.vocab.encode(r)) for r in corpus.train.items)

    def reviews_of(row: torch.Tensor) -> list[tuple[int, ...]]:
        stream = row.tolist()
        assert stream[-1] == pad  # every review, the last one included, is followed by <pad>
        ends = [i for i, t in enumerate(stream) if t == pad]
        return [tuple(stream[a + 1 : b]) for a, b in zip([-1, *ends], ends)]

    forward = {epoch: text.rows(epoch, cfg, 0) for epoch in (1, 2)}
    for epoch, rows in forward.items():
        assert sorted(reviews_of(rows[0])) == expected
        assert torch.equal(text.rows(epoch, cfg, 1), rows.flip(1))  # one row: exactly the reversed stream
        assert torch.equal(text.rows(epoch, cfg, 0), rows)  # seeded
    assert reviews_of(forward[1][0]) != reviews_of(forward[2][0])  # shuffled again each epoch
    # Several rows: each direction cuts its own stream, so the backward one is the reversed stream's head.
    cfg4 = dataclasses.replace(cfg, batch_size=4)
    stream = text.rows(1, cfg, 0)[0].numpy()
    width = len(stream) // 4
    assert text.rows(1, cfg4, 0).flatten().tolist() == stream[: 4 * width].tolist()
    assert text.rows(1, cfg4, 1).flatten().tolist() == stream[::-1][: 4 * width].tolist()
    # max_epoch_tokens reads the head of the shuffled stream only.
    short = text.rows(1, dataclasses.replace(cfg, max_epoch_tokens=20), 0)
    assert short.tolist() == [stream[:21].tolist()]


# ---------------------------------------------------------------------------------------------
# Pretraining


def test_pretraining_lowers_the_loss_and_reports_both_directions_perplexity_each_epoch(tmp_path):
    cfg = pretrain_config(tmp_path, epochs=3)
    events = run(LM_CFG, cfg, repetitive_corpus())
    done = events[-1]
    assert done.status == "finished", done.error
    started = of(LMStarted, events)[0]
    steps = of(LMStep, events)
    assert started.resumed_at == 0 and started.total_steps == 3 * started.steps_per_epoch
    assert [s.step for s in steps] == list(range(1, started.total_steps + 1))
    assert all(s.total_steps == started.total_steps and s.tokens_per_s > 0 for s in steps)
    assert all(s.lr > 0 for s in steps[:-1]) and steps[-1].lr == pytest.approx(0)  # cosine decay to zero
    ends = of(LMEpochEnd, events)
    assert [e.epoch for e in ends] == [1, 2, 3]
    assert all(set(e.val_perplexity) == {"forward", "backward"} for e in ends)
    assert all(1 < p < started.vocab_size and math.isfinite(p) for e in ends for p in e.val_perplexity.values())
    assert ends[-1].train_loss < ends[0].train_loss
    assert all(ends[-1].val_perplexity[d] < ends[0].val_perplexity[d] for d in ("forward", "backward"))
    assert np.mean([s.loss for s in steps[-5:]]) < np.mean([s.loss for s in steps[:5]])

    # The finished file: the model, the vocabulary and how it was trained; the resume state is gone.
    assert done.path == cfg.output and not resume_path(cfg.output).exists()
    lm = load_language_model(done.path)
    assert not lm.model.training and lm.model.cfg.embed_dim == 8 and len(lm.model.rnns) == 2
    assert lm.model.cfg.vocab_size == len(lm.vocab) == started.vocab_size
    assert lm.pretrain_config["seed"] == cfg.seed and lm.pretrain_config["val_fraction"] == cfg.val_fraction
    assert [row["epoch"] for row in lm.metrics["history"]] == [1, 2, 3]
    assert lm.metrics["val_perplexity"] == ends[-1].val_perplexity
    assert lm.info["train_reviews"] == 48 and lm.info["val_reviews"] == 12
    assert lm.held_out_ids == sorted(f"val/{i}" for i in range(12))  # what fine-tuning checks its validation against
    with safe_open(done.path, "pt") as f:
        assert f.get_tensor("embedding.weight").dtype == torch.float16  # save_dtype's default


def test_another_pass_starts_from_an_earlier_model_and_carries_its_history(tmp_path):
    corpus = repetitive_corpus()
    first = run(LM_CFG, pretrain_config(tmp_path, epochs=1), corpus)[-1]
    assert first.status == "finished", first.error
    cfg = pretrain_config(tmp_path, epochs=1, init_from=first.path, output=str(tmp_path / "lm2.safetensors"))
    events = run(LM_CFG, cfg, corpus)
    assert events[-1].status == "finished", events[-1].error
    assert [e.epoch for e in of(LMEpochEnd, events)] == [2]
    before, after = load_language_model(first.path), load_language_model(cfg.output)
    assert [row["epoch"] for row in after.metrics["history"]] == [1, 2]
    assert after.metrics["history"][0] == before.metrics["history"][0]
    assert after.metrics["val_perplexity"]["forward"] < before.metrics["val_perplexity"]["forward"]


@pytest.mark.parametrize("change, message", [
    ({"vocab_size": 6}, "another vocabulary"),
    ({"seed": 7}, "held out other reviews"),
])
def test_another_pass_refuses_a_model_of_other_text_or_vocabulary(tmp_path, change, message):
    corpus = repetitive_corpus()
    first = run(LM_CFG, pretrain_config(tmp_path, epochs=1), corpus)[-1]
    cfg = pretrain_config(tmp_path, epochs=1, init_from=first.path, output=str(tmp_path / "lm2.safetensors"),
                          **change)
    corpus = dataclasses.replace(corpus, val=reviews(SENTENCES, "other")) if "seed" in change else corpus
    done = run(LM_CFG, cfg, corpus)[-1]
    assert done.status == "failed" and message in done.error


def test_another_pass_from_an_encoder_alone_warms_a_fresh_softmax_up_first(tmp_path):
    corpus = repetitive_corpus()
    first = run(LM_CFG, pretrain_config(tmp_path, epochs=1), corpus)[-1]
    encoder = export_encoder(first.path, tmp_path / "encoder.safetensors")
    start = load_language_model(encoder).model.state_dict()
    # The warm-up longer than the run: the encoder must come out as it went in, the softmax trained.
    held = pretrain_config(tmp_path, epochs=1, init_from=str(encoder), warmup_steps=10_000,
                           output=str(tmp_path / "held.safetensors"))
    events = run(LM_CFG, held, corpus)
    assert events[-1].status == "finished", events[-1].error
    assert any("a fresh softmax" in e.message for e in of(Status, events))
    after = load_language_model(held.output)
    for key, value in after.model.state_dict().items():
        if key.startswith("softmax."):
            continue
        assert torch.equal(value, start[key].half().float()), key
    assert after.metrics["softmax_fresh_from_epoch"] == 2 and [r["epoch"] for r in after.metrics["history"]] == [1, 2]
    # A short warm-up: the encoder trains after it.
    cfg = pretrain_config(tmp_path, epochs=1, init_from=str(encoder), warmup_steps=1,
                          output=str(tmp_path / "lm2.safetensors"))
    assert run(LM_CFG, cfg, corpus)[-1].status == "finished"
    moved = load_language_model(cfg.output).model.state_dict()
    assert not torch.equal(moved["embedding.weight"], start["embedding.weight"].half().float())


def test_ppmi_svd_vectors_start_the_embedding_and_can_stay(tmp_path):
    corpus = repetitive_corpus()
    # The embedding held: the saved one is the vectors it started from, while the rest trained.
    cfg = pretrain_config(tmp_path, epochs=1, embedding_init="ppmi-svd", freeze_embedding=True)
    events = run(LM_CFG, cfg, corpus)
    assert events[-1].status == "finished", events[-1].error
    assert any(e.phase == "PPMI-SVD word vectors" for e in of(Timing, events))
    text = prepare_text(cfg, corpus)
    vectors = ppmi_svd_vectors(text.train, text.vocab, LM_CFG.embed_dim, seed=cfg.seed)
    saved = load_language_model(cfg.output).model.embedding.weight
    assert torch.allclose(saved, vectors.half().float(), atol=1e-6)
    moving = pretrain_config(tmp_path, epochs=1, embedding_init="ppmi-svd", output=str(tmp_path / "moving.safetensors"))
    assert run(LM_CFG, moving, corpus)[-1].status == "finished"
    assert not torch.allclose(load_language_model(moving.output).model.embedding.weight, saved, atol=1e-3)
    with pytest.raises(ValueError, match="brings its own embedding"):
        pretrain_config(tmp_path, init_from=cfg.output, embedding_init="ppmi-svd")


def test_the_ppmi_svd_vectors_report_progress_and_a_stop_during_them_saves_nothing(tmp_path):
    corpus = repetitive_corpus()
    cfg = pretrain_config(tmp_path, epochs=1, embedding_init="ppmi-svd")
    progress = of(Progress, run(LM_CFG, cfg, corpus))
    assert progress and progress[-1].done == progress[-1].total and progress[-1].unit
    stopped = pretrain_config(tmp_path, epochs=1, embedding_init="ppmi-svd",
                              output=str(tmp_path / "stopped.safetensors"))
    flag = threading.Event()
    flag.set()  # a Ctrl-C while the vectors are computed
    final = list(pretrain(LM_CFG, stopped, corpus, stop=flag))[-1]
    assert (final.status, final.path) == ("stopped", "")
    assert not Path(stopped.output).exists() and not resume_path(stopped.output).exists()


def test_another_pass_refuses_another_architecture(tmp_path):
    corpus = repetitive_corpus()
    first = run(LM_CFG, pretrain_config(tmp_path, epochs=1), corpus)[-1]
    out = str(tmp_path / "lm2.safetensors")
    wider = dataclasses.replace(LM_CFG, hidden_dim=24)
    done = run(wider, pretrain_config(tmp_path, epochs=1, init_from=first.path, output=out), corpus)[-1]
    assert done.status == "failed" and "another architecture" in done.error


def test_a_forward_only_model_reports_forward_perplexity(tmp_path):
    events = run(dataclasses.replace(LM_CFG, bidirectional=False), pretrain_config(tmp_path, epochs=1),
                 repetitive_corpus(12))
    assert events[-1].status == "finished", events[-1].error
    assert set(of(LMEpochEnd, events)[0].val_perplexity) == {"forward"}
    assert len(load_language_model(events[-1].path).model.rnns) == 1


def test_a_stop_writes_the_resume_state_and_the_next_run_carries_on_from_it(tmp_path):
    corpus = repetitive_corpus()
    cfg = pretrain_config(tmp_path, warmup_steps=4)
    reference = run(LM_CFG, dataclasses.replace(cfg, output=str(tmp_path / "ref.safetensors")), corpus)
    total = of(LMStarted, reference)[0].total_steps
    assert total > 12

    stopped = run(LM_CFG, cfg, corpus, stop_at=5)
    assert [s.step for s in of(LMStep, stopped)] == [1, 2, 3, 4, 5]
    assert stopped[-1].status == "stopped" and stopped[-1].path == str(resume_path(cfg.output))
    assert resume_path(cfg.output).exists() and not (tmp_path / "lm.safetensors").exists()
    assert torch.load(resume_path(cfg.output), weights_only=True)["step"] == 5

    # Where and how often it saves may change; the next run resumes at step 6 of the same schedule.
    resumed = run(LM_CFG, dataclasses.replace(cfg, save_every_minutes=1.0, save_dtype="float32"), corpus)
    assert resumed[-1].status == "finished", resumed[-1].error
    assert any(isinstance(e, Status) and "resuming from step 5" in e.message for e in resumed)
    started = of(LMStarted, resumed)[0]
    assert started.resumed_at == 5 and started.total_steps == total
    steps = of(LMStep, resumed)
    assert [s.step for s in steps] == list(range(6, total + 1))
    assert [s.lr for s in steps] == pytest.approx([s.lr for s in of(LMStep, reference)][5:])
    assert [e.epoch for e in of(LMEpochEnd, resumed)] == [1, 2]
    assert not resume_path(cfg.output).exists()
    assert [row["epoch"] for row in load_language_model(cfg.output).metrics["history"]] == [1, 2]


def test_a_stop_at_an_epoch_end_resumes_with_the_next_epoch(tmp_path):
    corpus, cfg = repetitive_corpus(), pretrain_config(tmp_path)
    per_epoch = of(LMStarted, run(LM_CFG, dataclasses.replace(cfg, output=str(tmp_path / "r.safetensors"),
                                                              epochs=1), corpus))[0].steps_per_epoch
    stopped = run(LM_CFG, cfg, corpus, stop_at=per_epoch)
    assert stopped[-1].status == "stopped" and len(of(LMEpochEnd, stopped)) == 1
    resumed = run(LM_CFG, cfg, corpus)
    assert of(LMStarted, resumed)[0].resumed_at == per_epoch
    assert [e.epoch for e in of(LMEpochEnd, resumed)] == [2] and resumed[-1].status == "finished"


@pytest.mark.parametrize("change", ["lr", "epochs", "hidden_dim", "text"])
def test_resuming_with_other_settings_or_text_is_a_clear_error(tmp_path, change):
    corpus, cfg, lm_cfg = repetitive_corpus(), pretrain_config(tmp_path), LM_CFG
    assert run(lm_cfg, cfg, corpus, stop_at=3)[-1].status == "stopped"
    if change == "lr":
        cfg = dataclasses.replace(cfg, lr=2e-2)
    elif change == "epochs":
        cfg = dataclasses.replace(cfg, epochs=3)
    elif change == "hidden_dim":
        lm_cfg = dataclasses.replace(lm_cfg, hidden_dim=8)
    else:
        corpus.unlabeled = reviews(["an entirely new word ."] * 3, "unsup")
    done = run(lm_cfg, cfg, corpus)[-1]
    assert done.status == "failed"
    assert str(resume_path(cfg.output)) in done.error and "other settings" in done.error
    assert resume_path(cfg.output).exists()  # kept: the user decides


@pytest.mark.parametrize("overrides", [dict(batch_size=4, bptt=200), dict(max_epoch_tokens=20)])
def test_rows_shorter_than_a_window_train_on_what_they_have(tmp_path, overrides):
    events = run(LM_CFG, pretrain_config(tmp_path, **overrides), repetitive_corpus(8))
    assert events[-1].status == "finished", events[-1].error
    assert of(LMStarted, events)[0].steps_per_epoch == 1


def test_rows_too_short_to_predict_a_token_are_a_clear_error(tmp_path):
    done = run(LM_CFG, pretrain_config(tmp_path, batch_size=1000), repetitive_corpus(8))[-1]
    assert done.status == "failed" and done.error.startswith("ValueError") and "lower the batch size" in done.error


def test_perplexity_scores_a_short_stream_and_refuses_one_too_short():
    model = LanguageModel(dataclasses.replace(LM_CFG, vocab_size=20))
    scores = perplexity(model, np.arange(40) % 20, torch.device("cpu"), "float32")  # fewer tokens than 2 a row
    assert set(scores) == {"forward", "backward"} and all(1 < p < 1000 for p in scores.values())
    with pytest.raises(ValueError, match="a perplexity needs a few tokens"):
        perplexity(model, np.arange(3), torch.device("cpu"), "float32")


def test_a_hand_built_corpus_of_plain_token_lists_pretrains(tmp_path):
    corpus = repetitive_corpus(12)
    corpus.train, corpus.val = (Reviews(r.ids, r.labels, list(r.items)) for r in (corpus.train, corpus.val))
    done = run(LM_CFG, pretrain_config(tmp_path, epochs=1), corpus)[-1]
    assert done.status == "finished", done.error


# ---------------------------------------------------------------------------------------------
# The language model's file


@pytest.fixture
def lm_file(tmp_path):
    """A language model file written by save_language_model (untrained: only its form matters here)."""
    vocab = Vocab(["<pad>", "<unk>", *(f"w{i}" for i in range(20))])
    torch.manual_seed(0)
    model = LanguageModel(dataclasses.replace(LM_CFG, vocab_size=len(vocab)))
    path = tmp_path / "lm.safetensors"
    save_language_model(path, model, vocab, {"seed": 1234, "val_fraction": 0.1}, {"val_perplexity": {}}, {},
                        ["pos/2_9", "neg/1_2"])
    return path


def rewrite(source, target, header=None, drop=()):
    """A copy of the language model file ``source`` with header entries replaced and tensors dropped."""
    with safe_open(str(source), "pt") as f:
        meta = {**f.metadata(), **(header or {})}
        tensors = {k: f.get_tensor(k) for k in f.keys() if k not in drop}  # noqa: SIM118
    save_file(tensors, str(target), metadata={k: v for k, v in meta.items() if v is not None})
    return target


def test_a_saved_language_model_loads_as_written(lm_file):
    lm = load_language_model(lm_file)
    assert lm.vocab.itos[2] == "w0" and lm.pretrain_config == {"seed": 1234, "val_fraction": 0.1}
    assert not lm.encoder_only and lm.path == str(lm_file)
    assert lm.held_out_ids == ["neg/1_2", "pos/2_9"]


def test_the_encoder_alone_is_smaller_and_still_loads(lm_file, tmp_path):
    target = export_encoder(lm_file, tmp_path / "encoder.safetensors")
    lm, encoder = load_language_model(lm_file), load_language_model(target)
    assert encoder.encoder_only and target.stat().st_size < lm_file.stat().st_size
    assert torch.equal(encoder.model.embedding.weight, lm.model.embedding.weight)
    assert encoder.vocab.itos == lm.vocab.itos and encoder.pretrain_config == lm.pretrain_config
    assert encoder.held_out_ids == lm.held_out_ids


def corrupt(kind, lm_file, tmp_path):
    target = tmp_path / f"{kind}.safetensors"
    cfg = json.loads(load_header(lm_file)["lm_config"])
    if kind == "missing":
        return target
    if kind == "garbage":
        target.write_bytes(b"not a language model at all")
    elif kind == "truncated":
        target.write_bytes(lm_file.read_bytes()[:300])
    elif kind == "no format":
        rewrite(lm_file, target, {"format": None})
    elif kind == "shapes":
        rewrite(lm_file, target, {"lm_config": json.dumps({**cfg, "hidden_dim": 12})})
    elif kind == "missing tensor":
        rewrite(lm_file, target, drop=("rnns.1.weight_hh_l0",))
    elif kind == "vocabulary size":
        rewrite(lm_file, target, {"vocab": json.dumps({"itos": ["<pad>", "<unk>", "a"]})})
    elif kind == "bad vocabulary":
        rewrite(lm_file, target, {"vocab": json.dumps({"itos": ["a", "b"]})})
    elif kind == "config out of bounds":
        rewrite(lm_file, target, {"lm_config": json.dumps({**cfg, "embed_dim": 10**6})})
    elif kind == "broken json":
        rewrite(lm_file, target, {"metrics": "{"})
    elif kind == "no config":
        rewrite(lm_file, target, {"lm_config": None})
    elif kind == "config not an object":
        rewrite(lm_file, target, {"lm_config": "[1, 2]"})
    elif kind == "no held-out ids":
        rewrite(lm_file, target, {"held_out_ids": None})
    elif kind == "held-out ids not a list":
        rewrite(lm_file, target, {"held_out_ids": json.dumps({"a": 1})})
    elif kind == "held-out ids not strings":
        rewrite(lm_file, target, {"held_out_ids": json.dumps(["pos/1_9", 3])})
    return target


def load_header(path) -> dict:
    with safe_open(str(path), "pt") as f:
        return f.metadata()


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "no format", "shapes", "missing tensor",
                                  "vocabulary size", "bad vocabulary", "config out of bounds", "broken json",
                                  "no config", "config not an object", "no held-out ids", "held-out ids not a list",
                                  "held-out ids not strings"])
def test_anything_but_a_language_model_file_is_a_checkpoint_error(kind, lm_file, tmp_path):
    path = corrupt(kind, lm_file, tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_language_model(path)
    assert info.value.path == str(path)


def test_classifiers_and_language_models_do_not_load_as_each_other(tiny_checkpoint, lm_file):
    with pytest.raises(CheckpointError, match="not a language model"):
        load_language_model(tiny_checkpoint)
    with pytest.raises(CheckpointError, match="a pretrained language model, not a classifier"):
        load_checkpoint(lm_file)


# ---------------------------------------------------------------------------------------------
# The command line, without data: a real run reads the whole IMDB archive


def test_pretrain_help_lists_its_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--cell", "--hidden-dim", "--weight-dropout", "--cutoffs", "--bptt", "--max-epoch-tokens",
                   "--val-fraction", "--seed", "--output", "--restart", "--overwrite", "--num-threads"):
        assert option in out
    assert "--vocab-size" in out and "--pad-index" not in out


@pytest.mark.parametrize("args, message", [
    (["--cutoffs", "20,10"], "cutoffs must be increasing positive numbers"),
    (["--cutoffs", "many"], "cutoffs must be comma-separated whole numbers"),
    (["--output", "lm.pt"], "output must be a .safetensors file"),
    (["--output", ".safetensors"], "output must be a .safetensors file"),
])
def test_bad_pretrain_settings_are_one_clear_line(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_pretrain, "pretrain", fail_if_called)
    assert main(["pretrain", "--output", str(tmp_path / "lm.safetensors"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--hidden-dim", "0"], ["--bptt", "1"], ["--weight-dropout", "1"],
                                  ["--cell", "rnn"], ["--epochs", "many"]])
def test_out_of_range_pretrain_options_are_usage_errors(args, monkeypatch, capsys):
    monkeypatch.setattr(cli_pretrain, "pretrain", fail_if_called)
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", *args])
    assert exit_info.value.code == 2
    assert args[0] in capsys.readouterr().err


def fail_if_called(*args, **kwargs):
    raise AssertionError("pretrain must not start")


def test_a_finished_language_model_is_not_replaced_without_overwrite(tmp_path, monkeypatch, capsys):
    output = tmp_path / "lm.safetensors"
    output.write_bytes(b"finished earlier")
    monkeypatch.setattr(cli_pretrain, "pretrain", fail_if_called)
    assert main(["pretrain", "--output", str(output)]) == 1
    assert "--overwrite" in capsys.readouterr().err and output.read_bytes() == b"finished earlier"


def fake_pretrain(calls: list, status: str):
    def fake(lm_cfg, cfg, corpus=None, stop=None, info=None):
        calls.append((lm_cfg, cfg, info))
        yield LMStarted("cpu", 1000, 50, 400, 40, 2, 2, 0)
        yield LMStep(1, 1, 2, 3.5, 1e-3, 100.0, 0.1, 0.1)
        yield LMEpochEnd(1, 3.4, {"forward": 30.0, "backward": 31.0}, 0.2)
        yield Finished(status, path=cfg.output if status == "finished" else str(resume_path(cfg.output)),
                       error="ValueError: boom" if status == "failed" else "")
    return fake


@pytest.mark.parametrize("status, code", [("finished", 0), ("stopped", 130), ("failed", 1)])
def test_pretrain_command_passes_its_options_and_reports_the_outcome(status, code, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli_pretrain, "pretrain", fake_pretrain(calls, status))
    handler = signal.getsignal(signal.SIGINT)
    output = tmp_path / "small.safetensors"
    assert main(["pretrain", "--output", str(output), "--cell", "lstm", "--hidden-dim", "32", "--cutoffs", "100",
                 "--epochs", "3", "--bptt", "35", "--seed", "7", "--no-bidirectional"]) == code
    assert signal.getsignal(signal.SIGINT) == handler
    (lm_cfg, cfg, info), = calls
    assert (lm_cfg.cell, lm_cfg.hidden_dim, lm_cfg.cutoffs, lm_cfg.bidirectional) == ("lstm", 32, "100", False)
    assert (cfg.epochs, cfg.bptt, cfg.seed, cfg.output) == (3, 35, 7, str(output))
    assert info["name"] == "small"
    out, err = capsys.readouterr()
    assert "vocabulary 50" in out and "validation perplexity forward 30.0, backward 31.0" in out + err
    if status == "finished":
        assert str(output) in out
    elif status == "stopped":
        assert "run the same command to carry on" in err
    else:
        assert "pretraining failed: ValueError: boom" in err


def test_pretrain_command_draws_the_word_vectors_progress_and_says_when_a_stop_saved_nothing(tmp_path, monkeypatch,
                                                                                              capsys):
    def fake(lm_cfg, cfg, corpus=None, stop=None, info=None):
        yield Progress("pass 1 of 2: counting word pairs", 3, 10, "reviews", 0.5)
        yield Finished("stopped", elapsed_s=1.0)

    monkeypatch.setattr(cli_pretrain, "pretrain", fake)
    assert main(["pretrain", "--output", str(tmp_path / "lm.safetensors"), "--embedding-init", "ppmi-svd"]) == 130
    err = capsys.readouterr().err
    assert "pass 1 of 2: counting word pairs" in err and "3/10" in err
    assert "stopped before the first step: nothing was saved" in err and "carry on" not in err


def test_restart_discards_the_resume_state(tmp_path, monkeypatch):
    output = tmp_path / "lm.safetensors"
    resume_path(output).write_bytes(b"an earlier run")
    seen = []

    def fake(lm_cfg, cfg, corpus=None, stop=None, info=None):
        seen.append(resume_path(cfg.output).exists())
        yield Finished("finished", path=cfg.output)

    monkeypatch.setattr(cli_pretrain, "pretrain", fake)
    assert main(["pretrain", "--output", str(output)]) == 0
    assert seen == [True]  # without --restart the run finds it
    assert main(["pretrain", "--output", str(output), "--restart"]) == 0
    assert seen == [True, False] and not resume_path(output).exists()


def test_lm_encoder_writes_the_encoder_and_refuses_what_it_should(lm_file, tmp_path, capsys):
    target = tmp_path / "encoder.safetensors"
    assert main(["lm-encoder", str(lm_file), str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out and load_language_model(target).encoder_only
    assert main(["lm-encoder", str(lm_file), str(target)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["lm-encoder", str(lm_file), str(target), "--overwrite"]) == 0
    assert main(["lm-encoder", str(lm_file), str(tmp_path / "encoder.pt")]) == 1
    assert "must be a .safetensors file" in capsys.readouterr().err
    assert main(["lm-encoder", str(tmp_path / "missing.safetensors"), str(tmp_path / "e2.safetensors")]) == 1
    assert "no such language model file" in capsys.readouterr().err
