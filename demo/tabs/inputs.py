"""Refusals of a visitor's input: a clear message on the page or to the API caller, one line in the log;
and Gradio's record of the files it received, which the upload checks of ``demo.services`` consult.

Gradio prints a full traceback for every ``gr.Error`` unless told not to; a mistyped file or a
wrong password is not a server fault, so the log gets one line saying what was refused.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import gradio as gr
from gradio.context import LocalContext
from gradio.utils import get_upload_folder

from ..services import UserInputError, limits
from ..services.classify import NO_MODEL_MESSAGE
from ..services.registry import ModelRegistry

log = logging.getLogger(__name__)


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for bad input: logged as one line, without a traceback."""
    log.info("refused: %s", re.sub(r"\s+", " ", message).strip())
    return gr.Error(message, print_exception=False)


@contextlib.contextmanager
def refusing() -> Iterator[None]:
    """Turn a service's ``UserInputError`` into the page's message (``user_error``)."""
    try:
        yield
    except UserInputError as exc:
        raise user_error(str(exc)) from None


def received_by_gradio(path: str) -> bool:
    """Whether the Gradio app serving this request received ``path`` through its upload route.

    A mounted app (``gr.mount_gradio_app``) never counts as launched, and Gradio 6.31 then skips its
    own check: it copies any server file a caller names into the upload folder before the handler
    runs. Only the upload route's record (``Blocks.upload_file_set``) tells such a copy from an
    upload. Without that record (outside a request, or a Gradio that no longer keeps it) no file
    counts as received: the upload is refused rather than trusted.
    """
    uploads = getattr(LocalContext.blocks.get(None), "upload_file_set", None)
    return uploads is not None and path in uploads


def client_id() -> str:
    """Who sent the request being handled (``limits.client_key``); "local" outside a request."""
    request = LocalContext.request.get(None)
    if request is None:
        return "local"
    client = getattr(request, "client", None)
    headers = getattr(request, "headers", None) or {}
    return limits.client_key(getattr(client, "host", None), headers.get("x-forwarded-for"))


def rate_limited(limit: limits.RateLimit) -> None:
    """Count one use of ``limit`` by this request's client; a page message while it must wait."""
    try:
        limit.hit(client_id())
    except limits.RateLimited as exc:
        raise user_error(str(exc)) from None


def gradio_uploads() -> dict[str, Any]:
    """The arguments of the upload checks (``demo.services.uploads``) for files uploaded to this app."""
    return {"allowed_root": get_upload_folder(), "received": received_by_gradio}


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
