"""Batch mode: classify a .txt or .csv file of reviews uploaded to the app, with a CSV to download.

The file is read by ``uploads.read_reviews`` (hostile until checked); result files expire.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_core import CheckpointError, EmptyTextError
from sentiment_core import markdown as md
from sentiment_core.tokenizer import tokenize_many

from .classify import known_words, release_memory
from .quota import disk_errors
from .registry import ModelRegistry
from .uploads import Received, read_reviews
from .user_input import UserInputError

RESULT_TTL_S = 3600  # a batch result stays downloadable this long
FEW_KNOWN = 0.5  # a row whose words the model mostly does not know gets a warning (as the single review does)
# A cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...) opens a link, +, -, @
# start one too; a tab or carriage return can hide one after it): such cells are written with a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text cell (and column name) a spreadsheet would evaluate prefixed with ``'``."""

    def safe(value: Any) -> Any:
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value

    return table.rename(columns=safe).apply(lambda column: column.map(safe) if column.dtype == object
                                            or pd.api.types.is_string_dtype(column) else column)


def prune_results(out_dir: Path, age: float = RESULT_TTL_S) -> None:
    """Remove earlier requests' result folders older than ``age`` seconds: a public server's disk stays bounded."""
    now = time.time()
    for folder in out_dir.glob("batch-*"):
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > age:
                shutil.rmtree(folder)


@dataclass
class BatchResult:
    """A classified file: its rows with a prediction each, and where the texts came from."""

    name: str  # the file's name, as uploaded
    column: str  # the column that held the texts
    model: str  # the model's key
    table: pd.DataFrame  # the file's rows (blank ones left out), then prediction and p_<positive class> (p_<label>
    # each for a model of more than two classes)
    positive_label: str  # of two classes, the one whose probability is given (the entry's positive class)
    labels: tuple[str, ...] = ("negative", "positive")  # the model's classes

    @property
    def positive(self) -> int:
        return int((self.table["prediction"] == self.positive_label).sum())

    def counts(self) -> dict[str, int]:
        """Reviews predicted as each class."""
        return {label: int((self.table["prediction"] == label).sum()) for label in self.labels}

    def summary(self, markdown: bool = True) -> str:
        """'Classified 3 reviews from column text with shipped/default: 2 positive, 1 negative.'"""
        quote = md.code if markdown else repr
        count = len(self.table)
        counts = self.counts()
        if len(self.labels) == 2:  # the positive class first
            counts = {self.positive_label: counts.pop(self.positive_label), **counts}
        found = ", ".join(f"{n:,} {md.text(label) if markdown else label}" for label, n in counts.items())
        few = int((self.table["known_words"] < FEW_KNOWN).sum()) if "known_words" in self.table else 0
        warning = (f" The model knows under half the words of {few:,} of them (in another language, emoji...): "
                   "their predictions mean little." if few else "")
        return (f"Classified {count:,} review{'s' if count != 1 else ''} from column {quote(self.column)} with "
                f"{quote(self.model)}: {found}.{warning}")


def known_share(predictor: Any, texts: list[str]) -> list[float]:
    """Per text: the share of its words (not punctuation) in the model's vocabulary; 0 for none."""
    shares = []
    for tokens in tokenize_many(texts):
        flags = [k for k in known_words(predictor, tokens) if k is not None]
        shares.append(round(sum(flags) / len(flags), 2) if flags else 0.0)
    return shares


def classify_reviews(registry: ModelRegistry, model_key: str | None, path: str, name: str | None = None,
                     allowed_root: str | os.PathLike | None = None, received: Received | None = None) -> BatchResult:
    """Predictions for every review in an uploaded file; any problem is a ``UserInputError`` with a clear message.

    ``allowed_root`` and ``received`` say which uploads may be read (``uploads.uploaded_file``).
    """
    if not model_key:
        raise UserInputError("No model is available yet: train one in the Train tab.")
    table, column = read_reviews(path, allowed_root, received)
    name = name or Path(path).name
    try:
        predictor = registry.predictor(model_key)
        positive_label = registry.entry(model_key).positive_class
    except KeyError:
        raise UserInputError(f"The model {model_key!r} is gone or unknown; pick another one.") from None
    except CheckpointError as exc:
        raise UserInputError(f"The model {model_key!r} cannot be used: {exc.problem}") from None
    try:
        results = predictor.predict_batch(table[column].tolist())
    except EmptyTextError as exc:  # words only in a middle that the character limit leaves out
        raise UserInputError(f"{name}: {exc}.") from None
    finally:
        release_memory()
    labels = tuple(predictor.labels)
    shares = known_share(predictor, table[column].tolist())
    if len(labels) > 2:  # the most probable class, and every class's probability
        table = table.assign(prediction=[max(r, key=r.get) for r in results],
                             **{f"p_{label}": [round(r[label], 4) for r in results] for label in labels},
                             known_words=shares)
        return BatchResult(name, str(column), model_key, table, labels[1], labels)
    positive_label = positive_label or labels[1]
    table = table.assign(prediction=[labels[int(r[labels[1]] >= 0.5)] for r in results],
                         **{f"p_{positive_label}": [round(r[positive_label], 4) for r in results]},
                         known_words=shares)
    return BatchResult(name, str(column), model_key, table, positive_label, labels)


def classify_file(registry: ModelRegistry, model_key: str | None, path: str | None,
                  out_dir: str | Path | None = None, allowed_root: str | os.PathLike | None = None,
                  received: Received | None = None) -> tuple[pd.DataFrame | None, str | None, str]:
    """The page's batch view: a preview table, a CSV of every prediction to download, and a summary."""
    if not path:
        return None, None, "Upload a .txt file (one review per line) or a .csv file with a text column."
    result = classify_reviews(registry, model_key, path, allowed_root=allowed_root, received=received)
    # A folder per request: two visitors uploading "reviews.csv" at once must not share a file.
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        prune_results(Path(out_dir))
    with disk_errors("the predictions file"):
        folder = Path(tempfile.mkdtemp(prefix="batch-", dir=out_dir))
    csv_path = folder / f"{Path(path).stem}-predictions.csv"
    with disk_errors("the predictions file", partial=folder):
        spreadsheet_safe(result.table).to_csv(csv_path, index=False)
    texts = result.table[result.column]
    if len(result.labels) > 2:
        chance = [round(row[f"p_{label}"], 3) for label, (_, row) in zip(result.table["prediction"],
                                                                            result.table.iterrows())]
        probability = ("P(prediction)", chance)
    else:
        label = result.positive_label
        probability = (f"P({label})", [round(p, 3) for p in result.table[f"p_{label}"]])
    preview = pd.DataFrame({
        "review": [t if len(t) <= 160 else t[:157] + "..." for t in texts],
        "prediction": result.table["prediction"],
        probability[0]: probability[1],
        "known words": [f"{share:.0%}" + (" ⚠ little known" if share < FEW_KNOWN else "")
                        for share in result.table["known_words"]],
    })
    return preview, str(csv_path), result.summary()


def classify_file_json(registry: ModelRegistry, model_key: str | None, file: Any,
                       allowed_root: str | os.PathLike | None = None, received: Received | None = None
                       ) -> dict[str, Any]:
    """The API's batch answer: every row of the file with its prediction, and the counts, as plain values.

    ``file`` is what ``gradio_client.handle_file`` sends: a dict whose ``path`` the app's upload
    route returned. Anything else is refused like a file that was never uploaded.
    """
    path = file.get("path") if isinstance(file, dict) else None
    if not isinstance(path, str) or not path:
        raise UserInputError("file must be a file uploaded to this app: pass gradio_client.handle_file(path).")
    name = file.get("orig_name")
    result = classify_reviews(registry, model_key, path, name if isinstance(name, str) and name else None,
                              allowed_root, received)
    return {
        "model": result.model,
        "column": result.column,
        "reviews": len(result.table),
        **({"positive": result.positive, "negative": len(result.table) - result.positive}
           if result.labels == ("negative", "positive") else {}),
        "counts": result.counts(),  # per class, for a model of any number of classes
        "predictions": result.table.to_dict(orient="records"),
        "message": result.summary(markdown=False),
    }
