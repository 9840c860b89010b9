"""Text from outside (reviews, file and column names, checkpoint headers) made safe to put in Markdown.

Gradio renders Markdown and then drops HTML it does not allow, so a ``<unk>`` in a card or a
``<b>`` in a review would vanish, and a ``*`` or a backtick would restyle the rest of the line::

    f"towards positive: *{markdown.text(word)}*"    # shown as typed, whatever it holds
    f"saved as {markdown.code(path)}"                # a code span no backtick can close early
"""

from __future__ import annotations

import re

# Punctuation with a meaning inside a line of Markdown (emphasis, code, links, GFM strikethrough and
# table cells, Gradio's $$ LaTeX); a backslash makes each literal. Marks that matter only at a
# line's start (#, -, +, 1.) are left alone: these helpers never start a line. <, > and & become
# entities, which Markdown passes through as the characters. An underscore inside a word (x86_64)
# never makes emphasis, so it stays as it is.
_SPECIAL = re.compile(r"([\\`*\[\]~|$]|(?<![^\W_])_|_(?![^\W_]))")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def text(value: object) -> str:
    """``value`` as literal inline Markdown: one line, every special character shown as itself."""
    plain = _LINE_BREAKS.sub(" ", str(value))
    plain = "".join(_ENTITIES.get(ch, ch) for ch in plain)
    return _SPECIAL.sub(r"\\\1", plain)


def code(value: object) -> str:
    """``value`` as an inline code span, fenced with more backticks than it contains."""
    plain = _LINE_BREAKS.sub(" ", str(value))
    longest = max((len(run) for run in re.findall(r"`+", plain)), default=0)
    fence = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space so the fence stays a fence.
    pad = " " if plain.startswith("`") or plain.endswith("`") else ""
    return f"{fence}{pad}{plain}{pad}{fence}"
