"""Refusals of a visitor's input: a clear message on the page or to the API caller, one line in the log.

Gradio prints a full traceback for every ``gr.Error`` unless told not to; a mistyped file or a
wrong password is not a server fault, so the log gets one line saying what was refused.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import gradio as gr

from .classify import NO_MODEL_MESSAGE
from .models import ModelRegistry

log = logging.getLogger(__name__)


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for bad input: logged as one line, without a traceback."""
    log.info("refused: %s", re.sub(r"\s+", " ", message).strip())
    return gr.Error(message, print_exception=False)


def text_argument(text: Any) -> str:
    """The text an API caller sent, refused unless it is a string."""
    if not isinstance(text, str):
        raise user_error(f"text must be a string, not {type(text).__name__}.")
    return text


def model_argument(registry: ModelRegistry, model: Any) -> str:
    """The model key an API caller named, or the default one; whether it is listed is checked where it is used."""
    if model is None or model == "":
        default = registry.default_key()
        if default is None:
            raise user_error(NO_MODEL_MESSAGE)
        return default
    if not isinstance(model, str):
        raise user_error(f"model must be a string (a key from /models), not {type(model).__name__}.")
    return model
