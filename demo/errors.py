"""Refusals of a visitor's input: a clear message on the page or to the API caller, one line in the log.

Gradio prints a full traceback for every ``gr.Error`` unless told not to; a mistyped file or a
wrong password is not a server fault, so the log gets one line saying what was refused.
"""

from __future__ import annotations

import logging
import re

import gradio as gr

log = logging.getLogger(__name__)


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for bad input: logged as one line, without a traceback."""
    log.info("refused: %s", re.sub(r"\s+", " ", message).strip())
    return gr.Error(message, print_exception=False)
