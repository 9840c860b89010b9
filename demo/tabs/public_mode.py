"""The Train tab's public mode (``demo.services.public``): its line on the caps, and the visitor's run token.

The token is a random string made on the visitor's first page load and kept in the browser
(``gr.BrowserState``, in localStorage): a reload or a new tab of the same browser keeps it, so the
visitor can still stop the run they started; another browser cannot.
"""

from __future__ import annotations

import secrets
from typing import Any

import gradio as gr
from gradio.context import Context

from ..services import public


def _token(current: Any) -> str:
    """The browser's token, or a new one when it has none (or one that is unfit)."""
    try:
        return public.PublicTraining.token(current)
    except public.UserInputError:
        return secrets.token_urlsafe(24)


def lay_out(worker: Any) -> tuple[gr.BrowserState, public.PublicTraining]:
    """Inside the Train tab: the public-mode line and the token state, filled on each page load."""
    gr.Markdown(public.describe(), elem_id="public-mode")
    token = gr.BrowserState("", storage_key="sentiment-run-token")
    Context.root_block.load(_token, [token], [token], queue=False, show_progress="hidden", api_visibility="private")
    return token, public.PublicTraining(worker)
