"""The Train tab's form as data: one ``FormField`` record per control, run names and settings checks.

Labels, sections and slider steps live here, in one table; each field's help text and bounds come from
the config dataclasses' fields, the one table of bounds that the CLI's options and the API's checks read
too, so the page, the API and the CLI cannot drift apart (a tighter cap for a public server belongs
there as one more key of a field's metadata, read by ``FormField.bounds``).
No Gradio here: problems are ``FormError`` messages that the tab shows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_core import ModelConfig, TrainConfig, preset
from sentiment_core.config import PRESETS

from .user_input import UserInputError


@dataclass(frozen=True)
class FormField:
    """One control of the Train form: a ModelConfig or TrainConfig field."""

    name: str
    label: str
    section: str  # the accordion it sits in
    step: float | None = None  # a slider of this step between the field's bounds; else by type
    capped: bool = False  # a server's review cap lowers its maximum

    @property
    def config_field(self) -> dataclasses.Field:
        for cls in (ModelConfig, TrainConfig):
            for f in dataclasses.fields(cls):
                if f.name == self.name:
                    return f
        raise KeyError(self.name)

    @property
    def help(self) -> str | None:
        text = self.config_field.metadata["help"]
        return None if text.lower() == self.label.lower() else text

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value the field takes (an exclusive bound moves in by one step)."""
        meta, step = self.config_field.metadata, self.step or 0
        low = meta["min"] if "min" in meta else meta.get("above", 0) + step
        high = meta["max"] if "max" in meta else meta["below"] - step
        return low, high

    @property
    def range(self) -> tuple[float, float, float] | None:
        """The slider's (minimum, maximum, step), or None for a control chosen by type."""
        return None if self.step is None else (*self.bounds, self.step)

    @property
    def is_int(self) -> bool:
        default = self.config_field.default
        return isinstance(default, int) and not isinstance(default, bool)


FORM: tuple[FormField, ...] = (
    FormField("cell", "Recurrent cell", "Model"),
    FormField("bidirectional", "Bidirectional", "Model"),
    FormField("embed_dim", "Embedding size", "Model", 1),
    FormField("hidden_dim", "Hidden size", "Model", 1),
    FormField("num_layers", "Layers", "Model", 1),
    FormField("dropout", "Dropout", "Model", 0.05),
    FormField("epochs", "Epochs", "Training", 1),
    FormField("patience", "Early stopping patience", "Training", 1),
    FormField("batch_size", "Batch size", "Training", 1),
    FormField("lr", "Learning rate", "Training"),
    FormField("max_tokens", "Max tokens per review", "Training", 10),
    FormField("max_train_samples", "Training reviews", "Training", 100, capped=True),
    FormField("max_eval_samples", "Validation/test reviews", "Training", 100, capped=True),
    FormField("device", "Device", "Training"),
)
FIELDS = tuple(f.name for f in FORM)
BY_NAME = {f.name: f for f in FORM}
SECTIONS = tuple(dict.fromkeys(f.section for f in FORM))
DEVICE_NAMES = {"auto": "auto", "cpu": "CPU", "cuda": "GPU (CUDA)", "mps": "Apple GPU (MPS)"}
# The CPU-friendly ones first: "fast" (~90% in minutes) is the default, then "quick" (seconds), "transfer"
# (fast from a pretrained language model: the one for a few labelled reviews), then "small" (the choice for a
# small file of your own).
PRESET_ORDER = tuple(sorted(PRESETS, key=lambda name: (name != "fast", name != "quick", name != "transfer",
                                                     name != "small", name)))
_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


class FormError(UserInputError):
    """A setting or run name the form cannot accept; the message is for the page."""


def preset_settings(name: str, cap: int | None = None) -> dict[str, Any]:
    """The form values of a preset; with a cap, 'all reviews' becomes the cap."""
    configs = preset(name)
    values = {f.name: getattr(next(c for c in configs if hasattr(c, f.name)), f.name) for f in FORM}
    if cap:
        for f in FORM:
            if f.capped:
                values[f.name] = min(values[f.name] or cap, cap)
    return values


def parse_settings(preset_name: str, settings: dict[str, Any], cap: int | None = None
                   ) -> tuple[ModelConfig, TrainConfig, dict[str, Any], list[str]]:
    """The configs a submitted form asks for: (model config, train config, clean settings, notes).

    Values arrive from sliders, number boxes or API callers: numbers may be floats or None,
    and fields may be missing or unknown. Anything unusable is a ``FormError``.
    """
    if preset_name not in PRESETS:
        raise FormError(f"Unknown preset '{preset_name}'; choose one of {', '.join(PRESET_ORDER)}.")
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise FormError(f"Unknown settings: {', '.join(unknown)}.")
    clean, notes = {}, []
    for f in FORM:
        value = settings.get(f.name)
        if value is None or value == "":
            raise FormError(f"{f.label} is empty.")
        if f.is_int:
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or value != int(value)):
                raise FormError(f"{f.label} must be a whole number, not {value!r}.")
            value = int(value)
        if cap and f.capped and (not value or value > cap):
            notes.append(f"{f.label.lower()} capped at {cap:,} on this server")
            value = cap
        clean[f.name] = value
    try:
        model_cfg, train_cfg = preset(preset_name, **clean)
    except (TypeError, ValueError) as exc:
        raise FormError(f"Bad settings: {exc}") from None
    return model_cfg, train_cfg, clean, notes


def sanitize_name(name: str | None) -> str:
    """Letters, digits, '-' and '_' only (other runs of characters become one '-'), at most 64."""
    return _NAME_RE.sub("-", (name or "").strip()).strip("-_")[:64]


def generated_name(model_cfg: ModelConfig, now: dt.datetime | None = None) -> str:
    """Such as 'gru-bi-20261129-2031': cell, direction, local time."""
    now = now or dt.datetime.now()
    return f"{model_cfg.cell}{'-bi' if model_cfg.bidirectional else ''}-{now:%Y%m%d-%H%M}"


def run_path(runs_dir: Path, name: str | None, model_cfg: ModelConfig) -> tuple[str, Path]:
    """The sanitized run name and its checkpoint path; an existing run of that name is an error.

    A generated name that is taken (two runs in one minute) gets a numeric suffix instead.
    """
    wanted = sanitize_name(name)
    if wanted:
        path = runs_dir / f"{wanted}.safetensors"
        if path.exists():
            raise FormError(f"A run named '{wanted}' already exists in {runs_dir}; choose another name.")
        return wanted, path
    base = generated_name(model_cfg)
    for i in range(1, 1000):
        candidate = base if i == 1 else f"{base}-{i}"
        path = runs_dir / f"{candidate}.safetensors"
        if not path.exists():
            return candidate, path
    raise FormError(f"Too many runs named {base}-*; give the run a name.")


def cli_command(preset_name: str, name: str, path: Path, settings: dict[str, Any]) -> str:
    """The equivalent ``python -m sentiment_core train`` command, recorded in the model card."""
    base = preset_settings(preset_name)
    args = ["python", "-m", "sentiment_core", "train", "--preset", preset_name, "--name", name, "--output", str(path)]
    for key, value in settings.items():
        if value == base.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return shlex.join(args)
