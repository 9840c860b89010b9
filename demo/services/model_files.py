"""A model in the visitor's hands: download a run (checkpoint and card, one .zip), upload a checkpoint
into the runs folder, and a few validation rows of the model's own data as examples.

Every name from outside is checked here: a model key only ever names an entry of the registry (so no
path a caller writes is opened), an upload is read only if the server received it, and is checked as
strictly as a file in ``runs/`` (``load_checkpoint``: header, shapes, weights) before it is copied
into the runs folder under a sanitised name that clashes with no shipped model and no other run.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

from sentiment_core import CheckpointError, load_checkpoint
from sentiment_core.checkpoint_header import LanguageModelNotClassifier
from sentiment_core.config import TrainConfig, from_dict
from sentiment_core.data import DataError, inspect_table
from sentiment_core.data.splits import table_splits
from sentiment_core.data.table import table_texts
from sentiment_core.tempfiles import atomic_file

from .form import sanitize_name
from .model_entry import ModelEntry
from .registry import ModelRegistry
from .uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB, Received, uploaded_file
from .user_input import UserInputError

SUFFIX = ".safetensors"
MAX_KEY_CHARS = 300  # 'runs/' and a file stem
MAX_NAME_CHARS = 200  # a name typed for an upload; it is sanitised to at most 64
KEPT_BUNDLES = 8  # .zip files kept for downloads (one per model version)
EXAMPLE_ROWS = 4
MAX_EXAMPLE_CHARS = 600
NOT_UPLOADED = "That file was not uploaded to this app: upload a .safetensors checkpoint and try again."

_lock = threading.Lock()  # one upload at a time: the name check and the copy go together
_examples: OrderedDict[tuple, list[list[str]]] = OrderedDict()


def entry_of(registry: ModelRegistry, key: object) -> ModelEntry:
    """The listed model ``key`` names; anything else (not a string, too long, unknown) is refused."""
    if not isinstance(key, str) or not key:
        raise UserInputError("model must be a model key from /models, such as 'runs/my-run'.")
    if len(key) > MAX_KEY_CHARS or "\0" in key:
        raise UserInputError(f"model must be a model key from /models (at most {MAX_KEY_CHARS} characters).")
    try:
        return registry.entry(key)
    except KeyError:
        raise UserInputError(f"No model {key[:80]!r}; /models lists the keys.") from None


def bundle(registry: ModelRegistry, key: object, out_dir: Path) -> Path:
    """A .zip of the model's checkpoint and its Markdown card, made once per version of the file."""
    entry = entry_of(registry, key)
    version = hashlib.sha256(repr(entry.stamp).encode()).hexdigest()[:16]
    target = out_dir / version / f"{entry.path.stem}.zip"
    with _lock:
        if not target.exists():
            with atomic_file(target, "wb", hidden=True) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(entry.stamp[0], entry.path.name)
                z.writestr(f"{entry.path.stem}.md", registry.card(entry.key))
        _prune(out_dir)
    return target


def _prune(out_dir: Path) -> None:
    folders = sorted((p for p in out_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[KEPT_BUNDLES:]:
        shutil.rmtree(old, ignore_errors=True)


def upload_name(name: object, upload: str) -> str:
    """The run name an upload is kept under: the given one (or the file's stem), sanitised."""
    if name is not None and not isinstance(name, str):
        raise UserInputError(f"The name must be text, not {type(name).__name__}.")
    given = (name or "").strip() or Path(upload).stem
    if len(given) > MAX_NAME_CHARS:
        raise UserInputError(f"The name is {len(given):,} characters long; give one of at most 64 "
                             "(letters, digits, - and _).")
    clean = sanitize_name(given)
    if not clean:
        raise UserInputError("Give the model a name of letters, digits, - and _.")
    return clean


def _refusal(shown: str, exc: CheckpointError) -> UserInputError:
    if isinstance(exc, LanguageModelNotClassifier):
        return UserInputError(f"{shown} is a pretrained language model (what the Train tab's 'reader' and "
                              "'transfer' presets start from), not a classifier: it cannot classify reviews.")
    return UserInputError(f"{shown} cannot be used: {exc.problem}.")


def add_upload(registry: ModelRegistry, upload: object, name: object, allowed_root: str | os.PathLike | None,
               received: Received | None = None) -> str:
    """Check an uploaded checkpoint and add it to the runs folder as ``name``: its model key."""
    if not isinstance(upload, str) or not upload:
        raise UserInputError("Upload a .safetensors checkpoint of this project.")
    try:
        real = uploaded_file(upload, allowed_root, received)
    except UserInputError:
        raise UserInputError(NOT_UPLOADED) from None
    shown = Path(upload).name[:120]
    if not shown.lower().endswith(SUFFIX):
        raise UserInputError(f"{shown} is not a .safetensors file: upload a checkpoint that this app or "
                             "'python -m sentiment_core train' saved.")
    size = real.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UserInputError(f"{shown} is {size / 2**20:,.1f} MB; checkpoints of at most {MAX_UPLOAD_MB} MB "
                             "can be uploaded.")
    stem = upload_name(name, shown)
    runs, shipped = registry.folders["runs"], registry.folders["shipped"]
    taken = {p.stem for p in shipped.glob(f"*{SUFFIX}")} if shipped.is_dir() else set()
    if registry.default_model is not None:
        taken.add(registry.default_model.stem)
    if stem in taken:
        raise UserInputError(f"'{stem}' is the name of a shipped model; choose another name.")
    data = real.read_bytes()  # at most MAX_UPLOAD_BYTES; what is checked is what is kept
    with tempfile.TemporaryDirectory(prefix="sentiment-upload-") as tmp:
        check = Path(tmp) / f"{stem}{SUFFIX}"
        check.write_bytes(data)
        try:
            load_checkpoint(check)  # header, shapes and every weight, as for a file in runs/
        except CheckpointError as exc:
            raise _refusal(shown, exc) from None
    target = runs / f"{stem}{SUFFIX}"
    with _lock:
        if target.exists():
            raise UserInputError(f"A model named '{stem}' is already in the runs folder; choose another name.")
        try:
            with atomic_file(target, "wb", hidden=True, durable=True) as f:
                f.write(data)
        except OSError as exc:
            raise UserInputError(f"The checkpoint could not be saved: {exc.strerror or exc}.") from None
    registry.refresh()
    return f"runs/{stem}"


def data_examples(entry: ModelEntry, n: int = EXAMPLE_ROWS) -> list[list[str]]:
    """A few validation rows of the file a model was trained on, one per class first, as [text, label]
    pairs; empty when it was not trained on a file, or the file is gone or unreadable."""
    path = entry.data_file()
    if path is None:
        return []
    key = (entry.stamp, str(path))
    with _lock:
        if key in _examples:
            return _examples[key]
    data = entry.training_data
    try:
        cfg = from_dict(TrainConfig, {**entry.meta["train_config"], "data": str(path), "output": "x" + SUFFIX})
        table = inspect_table(str(path), data.text_column, data.label_column, data.split_column,
                              max_classes=cfg.max_classes)
        _, val, _ = table_splits(table, cfg)
    except (DataError, OSError, TypeError, ValueError):
        return []
    rows = _one_per_class_first(val, table.labels, n)
    texts = dict(zip(sorted(rows), table_texts(table, set(rows))))
    out = [[texts[r][:MAX_EXAMPLE_CHARS], table.classes[table.labels[r]]] for r in rows if r in texts]
    with _lock:
        _examples[key] = out
        while len(_examples) > 16:
            _examples.popitem(last=False)
    return out


def _one_per_class_first(rows: list[int], labels: list[int], n: int) -> list[int]:
    """``n`` rows, seeded: one of each class in turn before a second of any."""
    shuffled = random.Random(0).sample(rows, len(rows))
    picked, seen = [], set()
    for r in shuffled:
        if labels[r] not in seen:
            picked.append(r)
            seen.add(labels[r])
    picked += [r for r in shuffled if r not in picked]
    return picked[:n]
