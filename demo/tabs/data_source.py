"""The Train tab's data block: IMDB polarity, IMDB star ratings, or your own labelled file
(checked by ``demo.services.own_data`` as soon as it is given)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from sentiment_core.config import MAX_COLUMN_NAME

from ..services import data_plan, form, limits, own_data
from .inputs import gradio_uploads, rate_limited


@dataclass
class DataSourceControls:
    """The data block's components; ``name`` exists only on a server with ``--train-data-dir``."""

    source: gr.Radio
    file_group: gr.Group
    upload: gr.File
    name: gr.Textbox | None
    text_column: gr.Textbox
    label_column: gr.Textbox
    summary: gr.Markdown
    plan: gr.Markdown  # what a run will do with the file (``data_plan``)

    @property
    def inputs(self) -> list[Any]:
        """The inputs a Start needs, in ``own_data.overrides``' order."""
        return [self.source, self.upload, *([self.name] if self.name is not None else []), self.text_column,
                self.label_column]


def build_data_source(data_dir: Path | None) -> DataSourceControls:
    """Lay out the data controls (inside an open layout block)."""
    with gr.Accordion("Data", open=True):
        source = gr.Radio([(label, value) for label, value in own_data.SOURCES], value="imdb", label="Train on",
                          info="IMDB comes with the app; your own file needs a text and a label column")
        with gr.Group(visible=False) as file_group:
            upload = gr.File(label="Labelled file", file_types=own_data.FILE_TYPES, type="filepath")
            name = None
            if data_dir is not None:
                name = gr.Textbox(label=f"…or a file in {data_dir.name}/ on this server", placeholder="reviews.csv")
            with gr.Row():
                text_column = gr.Textbox(label="Text column", placeholder="found by name: text, review, …",
                                         max_length=MAX_COLUMN_NAME)
                label_column = gr.Textbox(label="Label column", placeholder="found by name: label, class, …",
                                          max_length=MAX_COLUMN_NAME)
            summary = gr.Markdown(elem_id="data-summary")
            plan = gr.Markdown(elem_id="data-plan")
    return DataSourceControls(source, file_group, upload, name, text_column, label_column, summary, plan)


def wire_data_source(c: DataSourceControls, preset: gr.components.Component, data_dir: Path | None) -> list[Any]:
    """Show the file controls for 'your own file', check a file as soon as it is given, follow a
    preset that implies its data; returns the inputs a Start needs, in ``overrides``' order."""
    inputs = c.inputs

    def check(source, upload, *rest):
        named, (text, label) = (rest[0], rest[1:]) if c.name is not None else (None, rest)
        if source == "file" and (upload or named):
            rate_limited(limits.DATA_CHECKS)
        return own_data.preview(source, upload, named, text, label, data_dir, **gradio_uploads())

    c.source.change(lambda source: gr.Group(visible=source == "file"), [c.source], [c.file_group],
                    api_visibility="private")
    for component in inputs:
        component.change(check, inputs, [c.summary], api_visibility="private", show_progress="minimal")
    preset.input(lambda p: gr.Radio(value=own_data.SOURCE_OF_PRESET[p]) if p in own_data.SOURCE_OF_PRESET
                 else gr.skip(), [preset], [c.source], api_visibility="private")
    return inputs


def wire_plan(c: DataSourceControls, preset: gr.Dropdown, controls: dict[str, Any], data_dir: Path | None,
              cap: int | None, busy: Callable[[], bool]) -> None:
    """When a file is given, open the form on the preset that fits it (``data_plan``) and say what a run
    will do with it; while a run goes (``busy``) the form shows that run's settings and only the plan changes."""
    fields = [controls[f] for f in form.FIELDS]

    def fit(source, upload, *rest):
        named, (text, label) = (rest[0], rest[1:]) if c.name is not None else (None, rest)
        keep = dict.fromkeys([preset, *fields], gr.skip())
        if source != "file" or not (upload or (named or "").strip()):
            return {**keep, c.plan: ""}
        try:
            _, table = own_data.check_file(upload, named, text, label, data_dir, **gradio_uploads())
        except own_data.DataSourceError:  # the summary above says what is wrong
            return {**keep, c.plan: ""}
        plan = data_plan.plan(table, cap)
        if busy():
            return {**keep, c.plan: plan.markdown}
        return {preset: plan.preset, **{controls[f]: plan.settings[f] for f in form.FIELDS}, c.plan: plan.markdown}

    for component in c.inputs:
        component.change(fit, c.inputs, [preset, *fields, c.plan], api_visibility="private", show_progress="hidden")
