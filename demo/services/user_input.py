"""The one exception for input the app refuses: its message is for the visitor or the API caller."""

from __future__ import annotations


class UserInputError(ValueError):
    """Input the app cannot use (a text, a model key, a file, a setting); the message says why and what to do."""
