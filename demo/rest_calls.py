"""Cheap sessions and plain REST calls: what Gradio does for each that this app does not need.

Every session, and every call that names none (``curl``, any plain REST client), gets a
``SessionState``, which Gradio 6 builds with a copy of the config of every component in the app,
kept only to restore a session from a deep link (``/gradio_api/deep_link``, which this app does not
offer). With this app's ~240 components that copy was 30 ms of server CPU and 390 KB of memory:

- a call without a session paid the 30 ms every time, ten times the work of classifying a sentence,
  so 35 plain REST calls a second filled a core, and 20 clients sending ``/classify`` 5 times a
  second waited over a second (``bench/bench_load.py --phases rest``);
- a call with a new session hash each time kept its 390 KB for up to 10,000 sessions: 1,000 such
  calls took the server from 515 MB to 903 MB, so one stranger's loop could exhaust a Space's memory;
  and each deep link of such a session wrote a 400 KB file.

``install()`` swaps in ``LightSessionState``, which fills the copy only for the components a session
changes (as Gradio already does for those), for sessions and sessionless calls alike. State values,
component updates and the queue are untouched. ``tests/test_rest_calls.py`` checks that the light
state has every attribute of Gradio's own, so a Gradio upgrade that adds one fails loudly.

It also records that matplotlib is not installed, where it is not: Gradio tries to import it twice
around every call (to switch its plotting backend), and a failed import searches every folder of
``sys.path`` again each time, about 6% of a ``/classify``. A ``None`` in ``sys.modules`` is Python's
own way of saying a module cannot be imported (``import`` raises ``ImportError`` at once).
"""

from __future__ import annotations

import importlib.util
import sys
from copy import copy

from gradio import route_utils, state_holder

GradioSessionState = state_holder.SessionState  # Gradio's own class, before install() replaces it


class LightSessionState(GradioSessionState):
    """Gradio's ``SessionState`` less the eager per-component config copy; entries are filled on write,
    as Gradio does for a component whose value changes during a session."""

    def __init__(self, blocks) -> None:  # gradio.Blocks
        self.blocks_config = copy(blocks.default_config)
        self.config_values = {}
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 3600


def install() -> None:
    """Build every session's state with ``LightSessionState``, and skip the search for a missing matplotlib."""
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]
    # The two places Gradio makes a session's state: the session store, and a call that names no session.
    state_holder.SessionState = LightSessionState
    route_utils.SessionState = LightSessionState
