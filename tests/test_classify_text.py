"""The Classify handler on awkward text: unreadable characters, cuts by either limit, memory handed back."""

from __future__ import annotations

import json

from test_app import page_outputs, shown_words

from demo.services import classify as cl
from demo.tabs import classify_views as views
from sentiment_core.predict import CHARS_PER_TOKEN


def test_lone_surrogates_are_replaced_and_said_so(registry):
    probs, words, _, info = page_outputs(registry, "shipped/default", "great \ud800 film.")
    assert probs is not None and [w for w, _, _ in shown_words(words)] == ["great", "\ufffd", "film", "."]
    assert "Some characters could not be read and were replaced" in info
    json.dumps([probs, words, info], ensure_ascii=False).encode("utf-8")  # what Gradio sends must encode
    assert "could not be read" not in page_outputs(registry, "shipped/default", "great film")[3]


def test_a_text_that_stops_on_a_word_shows_the_full_stop_the_model_read(registry):
    # The tiny model's training reviews all end in ".": a typed text without one is read with one.
    _, words, _, info = page_outputs(registry, "shipped/default", "great film")
    assert [w for w, _, _ in shown_words(words)] == ["great", "film", "."]
    assert "it was read with a full stop added" in info
    assert "full stop added" not in page_outputs(registry, "shipped/default", "great film!")[3]


def test_a_text_cut_only_by_the_character_limit_shows_the_cut(registry):
    max_tokens = registry.predictor("shipped/default").max_tokens
    text = "good " + " " * (max_tokens * CHARS_PER_TOKEN) + " bad"
    _, words, _, info = page_outputs(registry, "shipped/default", text)
    assert [(w, extra) for w, extra, _ in shown_words(words)] == [("good", ""), ("…", "gap"), ("bad", "")]
    assert "Long text" in info


def test_a_text_over_the_token_limit_shows_the_cut_where_the_middle_was(registry):
    max_tokens = registry.predictor("shipped/default").max_tokens
    tokens = [f"w{i}" for i in range(3 * max_tokens)]
    _, words, _, info = page_outputs(registry, "shipped/default", " ".join(tokens))
    head = max_tokens - max_tokens // 2
    assert [w for w, _, _ in shown_words(words)] == [*tokens[:head], "…", *tokens[-(max_tokens // 2):]]
    assert "Long text" in info


def test_a_short_text_shows_no_cut(registry):
    _, words, _, info = page_outputs(registry, "shipped/default", "A fine film with a great cast.")
    assert "…" not in [w for w, _, _ in shown_words(words)] and "Long text" not in info


def test_a_text_without_words_is_a_message(registry):
    outputs = page_outputs(registry, "shipped/default", "<br /><br />")
    assert outputs[:3] == (None, views.WORDS_EMPTY, None) and "no words" in outputs[3]


def test_every_request_hands_freed_memory_back(registry, monkeypatch):
    calls = []
    monkeypatch.setattr(cl, "release_memory", lambda: calls.append(1))
    page_outputs(registry, "shipped/default", "A fine film.")
    page_outputs(registry, "shipped/default", "<br />")  # refused by the predictor: still released
    assert len(calls) == 2


def test_release_memory_is_safe_to_call():
    cl.release_memory()
    cl.release_memory()


def test_the_page_states_what_the_explanation_approximates(registry):
    *_, running, info = page_outputs(registry, "shipped/default", "A fine film. " * 40)
    assert "gradient evaluations; they add up to the change in the model's score within" in info
    points = len(json.loads(running.plot)["data"]["values"])
    assert f"Running prediction: {points} of " in info or "Running prediction: every token" in info


def test_a_rough_or_undefined_completeness_is_said_plainly():
    from demo.tabs.classify_views import approximations
    from sentiment_core.predict import Analysis

    base = {"tokens": ["a", "b"], "probabilities": {"negative": 0.5, "positive": 0.5}, "running": [0.5, 0.5],
            "running_positions": [1, 2], "attributions": [0.0, 0.0], "truncated": False, "steps": 27}
    assert "within 1.0%" in approximations(Analysis(**base, completeness_error=0.01))
    assert "rough for this text" in approximations(Analysis(**base, completeness_error=0.4))
    undefined = approximations(Analysis(**base, completeness_error=float("inf")))
    assert "inf" not in undefined and "no change for them to add up to" in undefined
