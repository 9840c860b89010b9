"""The app's work without its pages: model registry, training worker, error explorer, own-data intake,
upload checks and batch classification. Nothing here imports Gradio: functions take and return plain
data, and a refusal of a visitor's input is a ``UserInputError`` that the tabs turn into a page message.
"""

from .user_input import UserInputError

__all__ = ["UserInputError"]
