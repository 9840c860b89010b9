"""The Train tab's settings form: one control per ``form.FORM`` field, laid out by section, and the form's
state while a run goes (that run's settings, read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from sentiment_core.utils import available_devices

from ..services import form

if TYPE_CHECKING:  # train.py holds the components and calls these
    from ..services.worker import Run
    from .train import TrainComponents


def control(field: form.FormField, value: Any, cap: int | None) -> gr.components.Component:
    """The input for one form field: radio for choices, checkbox for flags, slider for ranges."""
    label, info = field.label, field.help
    if field.name == "device":
        choices = [(form.DEVICE_NAMES.get(d, d), d) for d in available_devices()]
        return gr.Radio(choices, value=value, label=label, info=info)
    if field.config_field.metadata.get("choices"):
        choices = [(c.upper(), c) for c in field.config_field.metadata["choices"]]
        return gr.Radio(choices, value=value, label=label, info=info)
    if isinstance(field.config_field.default, bool):
        return gr.Checkbox(value=value, label=label, info=info)
    if field.range:
        low, high, step = field.range
        if cap and field.capped:
            high = cap
        return gr.Slider(low, high, value=value, step=step, precision=0 if field.is_int else None, label=label,
                         info=info)
    low, high = field.bounds
    return gr.Number(value=value, label=label, info=info, minimum=low, maximum=high)


def lay_out_controls(initial: dict[str, Any], cap: int | None) -> dict[str, gr.components.Component]:
    """The form's controls by field name, two a row, in an open accordion per ``form.SECTIONS`` section."""
    controls: dict[str, gr.components.Component] = {}
    for section in form.SECTIONS:
        fields = [f for f in form.FORM if f.section == section]
        with gr.Accordion(section, open=True):
            if cap and section == "Training":
                gr.Markdown(f"This server trains on at most {cap:,} reviews per run.")
            for i in range(0, len(fields), 2):  # two controls a row
                with gr.Row(equal_height=True):
                    for f in fields[i : i + 2]:
                        controls[f.name] = control(f, initial[f.name], cap)
    return controls


def form_updates(c: TrainComponents, run: Run | None, running: str | None, seen: dict) -> dict:
    """The form while a run goes: that run's settings, read-only; after it, editable again. ``running``: the
    run's key (``train._running``), None when none goes.

    Sent only when a run starts or ends, so a visitor's edits between runs are never overwritten.
    """
    fields = [c.preset, c.run_name, *c.controls.values()]
    if seen.get("form") == running:
        return dict.fromkeys(fields, gr.skip())
    if running:
        updates = {c.controls[f]: gr.update(value=run.settings[f], interactive=False)
                   for f in form.FIELDS if f in run.settings}
        return {**updates, c.preset: gr.update(value=run.preset, interactive=False),
                c.run_name: gr.update(value=run.name, interactive=False)}
    # The finished run's name is taken now: the next run needs another.
    return {**{control: gr.update(interactive=True) for control in c.controls.values()},
            c.preset: gr.update(interactive=True), c.run_name: gr.update(value="", interactive=True)}
