"""What every ``python -m sentiment_core`` command shares: options built from the config
dataclasses, bounded argparse types, arguments and files read as valid UTF-8, progress bars."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from .config import ModelConfig, TrainConfig, check_value, preset
from .tokenizer import has_words

REPLACED_NOTE = "note: some characters of {what} were not valid UTF-8 and were replaced with U+FFFD"


def field_of(cls: type, name: str) -> dataclasses.Field:
    """The field ``name`` of config dataclass ``cls``."""
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def option_type(f: dataclasses.Field) -> Callable[[str], Any]:
    """An argparse ``type`` that parses a number and checks it against the field's bounds, so a
    bad value is a one-line usage error naming the option, before anything runs."""
    kind = type(f.default)

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, not {text!r}") from None
        try:
            return check_value(f, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind.__name__  # what argparse names in its messages
    return parse


def count_type(maximum: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number from 0 to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from 0 to {maximum:,}, not {value}")
        return value

    parse.__name__ = "int"
    return parse


def add_config_options(parser: argparse.ArgumentParser, cls: type, defaults: Any = None) -> None:
    """One --option per config field, typed, bounded and documented from the dataclass; the help
    names ``defaults``' value (by default the default preset's)."""
    group = parser.add_argument_group(cls.__name__)
    if defaults is None:
        defaults = next(c for c in preset("default") if isinstance(c, cls))
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        origin = "default preset: " if isinstance(defaults, (ModelConfig, TrainConfig)) else "default: "
        help_text = f"{f.metadata.get('help', '')} ({origin}{getattr(defaults, f.name)!r})"
        if isinstance(f.default, bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(f.default, (int, float)):
            group.add_argument(flag, dest=f.name, type=option_type(f), default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, default=None, choices=f.metadata.get("choices"), help=help_text)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line, by name (options left out are None and skipped)."""
    names = {f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def repair_utf8(text: str) -> tuple[str, bool]:
    """``text`` as valid Unicode, and whether anything was replaced: Python reads undecodable
    bytes in arguments as lone surrogates, which can't be printed or saved; they become U+FFFD."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the original bytes
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace"), True


def read_lines(raw: bytes, what: str) -> list[str]:
    """Lines of ``raw`` with words in them (not blank, not only ``<br />``), decoded as UTF-8, bad
    bytes replaced (with a note on stderr)."""
    text = raw.decode("utf-8", "replace")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        print(REPLACED_NOTE.format(what=what), file=sys.stderr)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines if has_words(line)]


class ProgressBars:
    """tqdm bars for the data pipeline's progress(stage, done, total) hook and the trainer's
    ``Progress`` events; one bar per stage (a stage done in passes names its pass)."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int, unit: str = "") -> None:
        bar = self.bars.get(stage)
        if bar is not None and done < bar.n:  # the stage runs again: a new bar, never a count going back
            bar.close()
            bar = None
        if bar is None:
            unit = "B" if stage in ("download", "read") else f" {unit or 'reviews'}"
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=unit, unit_scale=unit == "B")
        bar.total = total  # a count of rows still growing as a file is checked
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
