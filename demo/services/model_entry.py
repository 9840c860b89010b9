"""What the app knows of one model: its checkpoint header, read as labels, positive class, training data
and summaries.

A ``ModelEntry`` is built by ``demo.services.registry`` from one checkpoint file's header; every view,
table, filter and card reads a model's classes and data from it rather than assuming IMDB polarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment_core import markdown as md
from sentiment_core.card import describe_architecture, hardware
from sentiment_core.card_sections import soup_size
from sentiment_core.data import is_table

POLARITY = ("negative", "positive")  # the classes of an IMDB polarity model, in the checkpoint's order

Stamp = tuple[str, int, int]  # resolved path, mtime_ns, size


@dataclass(frozen=True)
class TrainingData:
    """What a model was trained on, as its checkpoint records it: IMDB polarity, IMDB star ratings, a
    labelled file (its path as recorded, its columns and split), or nothing known."""

    kind: str  # "imdb" (polarity), "ratings" (IMDB star-rating bins), "file" or "unknown"
    path: str = ""  # the file, as the checkpoint records it (a copy under the runs folder for app-trained runs)
    text_column: str = ""
    label_column: str = ""
    split_column: str = ""  # empty: a stratified, seeded split
    name: str = ""  # the file's name as the user gave it (the app trains on a copy named by its hash)

    @property
    def is_imdb(self) -> bool:
        return self.kind in ("imdb", "ratings")

    def describe(self) -> str:
        """A few words for the page: 'IMDB polarity', 'the file reviews.csv (text, label)'."""
        if self.kind == "imdb":
            return "IMDB polarity"
        if self.kind == "ratings":
            return "IMDB star ratings"
        if self.kind == "file":
            columns = ", ".join(c for c in (self.text_column, self.label_column, self.split_column) if c)
            return f"the file {self.name or Path(self.path).name}" + (f" (columns {columns})" if columns else "")
        return "data it does not record"


@dataclass(frozen=True)
class ModelEntry:
    """One usable checkpoint file and what its header says about it."""

    key: str
    path: Path
    meta: dict[str, Any]
    stamp: Stamp  # the file's resolved path, mtime and size when its header was read

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch train/validation history recorded in the checkpoint (may be empty)."""
        return list(self.meta["metrics"].get("history") or [])

    @property
    def name(self) -> str:
        return self.meta["info"].get("name") or self.path.stem

    @property
    def labels(self) -> list[str]:
        """The class names, in the order of the model's outputs."""
        return list(self.meta["labels"])

    @property
    def label_set(self) -> tuple[str, ...]:
        """What models must share to be compared: their classes, in order."""
        return tuple(self.meta["labels"])

    @property
    def positive_class(self) -> str | None:
        """The class a two-class model's one score is the probability of (None for more classes): one the
        checkpoint records, else its second class ("positive" for an IMDB polarity model)."""
        labels = self.labels
        if len(labels) != 2:
            return None
        recorded = (self.meta.get("train_config") or {}).get("positive_label") or self.meta["info"].get(
            "positive_label")
        return recorded if recorded in labels else labels[1]

    @property
    def training_data(self) -> TrainingData:
        """The data the model was trained on, from its recorded training settings."""
        cfg = self.meta.get("train_config")
        if not cfg:  # a hand-made checkpoint: the library's default data if its classes are IMDB's
            return TrainingData("imdb" if self.label_set == POLARITY else "unknown")
        data = str(cfg.get("data") or "")
        if data and is_table(data):
            return TrainingData("file", data, str(cfg.get("text_column") or ""), str(cfg.get("label_column") or ""),
                                str(cfg.get("split_column") or ""), str(self.meta["info"].get("data_name") or ""))
        return TrainingData("ratings" if cfg.get("imdb_labels") == "rating-bins" else "imdb")

    def data_file(self) -> Path | None:
        """The labelled file the model was trained on, where it is now: as recorded, else the copy of that
        name in the ``data/`` folder beside the checkpoint (where the app keeps the files its runs read);
        None if it is gone (or the model was not trained on a file)."""
        data = self.training_data
        if data.kind != "file":
            return None
        recorded = Path(data.path)
        for candidate in (recorded, self.path.parent / "data" / recorded.name):
            if candidate.is_file():
                return candidate
        return None

    @property
    def test_figures(self) -> dict[str, Any] | None:
        """The metrics recorded for the test split (accuracy, per-class figures, confusion), if any."""
        return self.meta["metrics"].get("test") or None

    @property
    def accuracy(self) -> tuple[str, float] | None:
        """('test', 0.89), else ('validation', ...), else None."""
        for split, label in (("test", "test"), ("val", "validation")):
            m = self.meta["metrics"].get(split)
            if m:
                return label, m["accuracy"]
        return None

    @property
    def label(self) -> str:
        """Dropdown text: name, cell and accuracy."""
        mc = self.meta["model_config"]
        cell = ("bi" if mc["bidirectional"] else "") + mc["cell"].upper()
        acc = self.accuracy
        score = f", {acc[1]:.1%} {acc[0]}" if acc else ""
        origin = {"shipped": "shipped", "runs": "trained here"}.get(self.key.split("/")[0], "given")
        return f"{self.path.stem} ({origin}; {cell}{score})"

    @property
    def examples(self) -> str:
        """What the model's data calls one example: reviews for IMDB, rows of a file."""
        return "reviews" if self.training_data.is_imdb else "rows"

    def summary(self, markdown: bool = True) -> str:
        """A few lines: architecture, size, accuracy, when and where trained (Markdown, or plain text)."""
        info, metrics = self.meta["info"], self.meta["metrics"]
        text = md.text if markdown else str
        strong = "**{}**" if markdown else "{}"
        # A model saved or uploaded under another file name is listed by its file: say what it was trained as.
        title = text(self.path.stem) if self.name == self.path.stem else \
            f"{text(self.path.stem)} (trained as {text(self.name)})"
        lines = [f"{strong.format(title)}: {describe_architecture(self.meta['model_config'])}"]
        facts = []
        if info.get("num_parameters"):
            facts.append(f"{info['num_parameters']:,} parameters")
        for split, label in (("test", "test"), ("val", "validation")):
            m = metrics.get(split)
            if m:
                accuracy = strong.format(f"{m['accuracy']:.1%}")
                facts.append(f"{label} accuracy {accuracy} on {m['count']:,} {self.examples}")
        if info.get("train_size"):
            facts.append(f"trained on {info['train_size']:,} {self.examples}")
        data = self.training_data
        if data.kind != "imdb" or self.label_set != POLARITY:
            classes = ", ".join(map(text, self.labels))
            facts.append(f"{len(self.labels)} classes ({classes}) from {text(data.describe())}")
        lines.append(" · ".join(facts) or "no metrics recorded")
        if info.get("created"):
            minutes = info.get("training_seconds", 0) / 60
            created = text(str(info["created"]).replace("T", " "))
            kept = soup_size(metrics.get("soup"))
            if kept is not None:
                lines.append(f"the average of {kept} fine-tuned models' weights (a model soup), made {created} "
                             f"on {text(hardware(info))}; {minutes:.1f} min of training in all")
            else:
                lines.append(f"trained {created} on {text(hardware(info))} in {minutes:.1f} min")
        return ("  \n" if markdown else "\n").join(lines)
