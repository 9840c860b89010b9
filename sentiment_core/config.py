"""Typed configuration shared by the CLI, the web app and the tests.

Every field carries a one-line help text in its metadata; the CLI builds its options from
these fields and the app builds its training controls from them, so they cannot drift apart.
How a field is declared and checked (``option``, the ``MAX_*`` bounds, ``check_fields``) is
``sentiment_core.config_fields``; its names stay importable from here.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config_fields import (
    MAX_BATCH,
    MAX_CLASSES,
    MAX_COLUMN_NAME,
    MAX_DIM,
    MAX_EPOCHS,
    MAX_LABEL_NAME,
    MAX_LAYERS,
    MAX_LR,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_STEPS,
    MAX_THREADS,
    MAX_TOKENS,
    MAX_VOCAB,
    check_fields,
    option,
)
from .config_fields import check_value as check_value  # the CLI checks single values with it

CELLS = ("rnn", "lstm", "gru")
POOLING_PARTS = ("last", "max", "mean")
DEVICES = ("auto", "cpu", "cuda", "mps")
RNN_PATHS = ("padded", "packed")
SCHEDULES = ("constant", "cosine", "linear")
SAVE_DTYPES = ("float32", "float16")
PRECISIONS = ("auto", "float32", "bfloat16")
CHECKPOINT_SUFFIX = ".safetensors"
# The pretrained language model the "reader" preset fine-tunes (its encoder: embedding and recurrence).
SHIPPED_LM = Path(__file__).resolve().parent.parent / "checkpoints" / "pretrained" / "imdb-lm.safetensors"
# The small one the "transfer" preset fine-tunes: fast's width, reading fast's word vectors.
SHIPPED_SMALL_LM = SHIPPED_LM.with_name("imdb-lm-small.safetensors")
IMDB_LABELS = ("polarity", "rating-bins")


def default_cache_dir() -> str:
    """Folder for the downloaded archive and the tokenized corpus."""
    env = os.environ.get("SENTIMENT_CACHE_DIR")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return os.path.join(xdg, "sentiment_core")


@dataclass
class ModelConfig:
    """Architecture of a recurrent sentiment classifier."""

    cell: str = option("gru", "recurrent cell", choices=CELLS)
    embed_dim: int = option(128, "size of the word embeddings", min=1, max=MAX_DIM, public_max=128)
    hidden_dim: int = option(128, "hidden size of each recurrent direction", min=1, max=MAX_DIM, public_max=128)
    num_layers: int = option(1, "number of stacked recurrent layers", min=1, max=MAX_LAYERS, public_max=2)
    bidirectional: bool = option(True, "read the review in both directions")
    dropout: float = option(0.5, "dropout on embeddings, between layers and before the classifier", min=0.0, below=1.0)
    pooling: str = option(
        "max+last", "how the per-token states become one vector: last, max, mean or a '+' mix"
    )
    # Set from the vocabulary by the trainer, so not an option: --vocab-size is TrainConfig's.
    vocab_size: int = option(0, "rows of the embedding table (set from the vocabulary)", cli=False, min=0,
                             max=MAX_VOCAB + 2)
    pad_index: int = option(0, "index of the <pad> token", cli=False, min=0, max=MAX_VOCAB + 1)
    # Set from the data by the trainer. Two classes share one output (the positive class's logit).
    num_classes: int = option(2, "number of classes (set from the data)", cli=False, min=2, max=MAX_CLASSES)

    def __post_init__(self) -> None:
        check_fields(self)
        parts = self.pooling_parts
        if not parts or any(p not in POOLING_PARTS for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(
                f"pooling must be '+'-joined distinct parts of {POOLING_PARTS}, not {self.pooling!r}"
            )
        if self.vocab_size and self.pad_index >= self.vocab_size:
            raise ValueError(f"pad_index must be below vocab_size ({self.vocab_size}), not {self.pad_index}")

    @property
    def num_outputs(self) -> int:
        """Logits per review: one for two classes (sigmoid), one per class for more (softmax)."""
        return 1 if self.num_classes == 2 else self.num_classes

    @property
    def pooling_parts(self) -> list[str]:
        return [p.strip() for p in self.pooling.split("+") if p.strip()]


@dataclass
class TrainConfig:
    """Data, optimisation and output settings of one training run."""

    data: str = option(
        "", "IMDB archive (.tar.gz), unpacked aclImdb/ folder, or 'download' (empty means $SENTIMENT_DATA, "
        "else the cached download); or your own labelled .csv, .tsv, .jsonl or .parquet file"
    )
    cache_dir: str = option("", "download and token cache folder (default: ~/.cache/sentiment_core)")
    imdb_labels: str = option(
        "polarity", "what to learn from IMDB data: polarity (negative/positive) or rating-bins (the star "
        "rating in 4 classes: 1-2, 3-4, 7-8, 9-10)", choices=IMDB_LABELS,
    )
    text_column: str = option("", "text column of a --data file (default: found by name: text, review, sentence, ...)")
    label_column: str = option("", "label column of a --data file, strings or integers, two or more classes "
                               "(default: found by name: label, class, sentiment, ...)")
    split_column: str = option("", "column of a --data file naming each row's split, train/validation/test "
                               "(default: 'split' if there is one, else a stratified, seeded split)")
    test_fraction: float = option(0.1, "share of a --data file's rows held out for testing when it has no split column",
                                  above=0.0, below=1.0)
    val_fraction: float = option(0.1, "share of the training reviews held out for validation (IMDB: of its 25k)",
                                 above=0.0, below=1.0)
    max_train_samples: int = option(0, "stratified slice of the training reviews (0 = all)", min=0, max=MAX_SAMPLES,
                                    public_max=4000)
    max_eval_samples: int = option(0, "stratified slice of validation and test reviews (0 = all)",
                                   min=0, max=MAX_SAMPLES, public_max=1000)
    max_classes: int = option(50, "refuse a --data file with more distinct labels than this", min=2,
                              max=MAX_CLASSES)
    max_tokens: int = option(400, "keep at most this many tokens per review, head and tail (0 = all)",
                             min=0, max=MAX_TOKENS, public_max=400)
    vocab_size: int = option(25_000, "most frequent training words kept in the vocabulary", min=1, max=MAX_VOCAB)
    min_freq: int = option(2, "words seen fewer times in training become <unk>", min=1, max=MAX_SAMPLES)
    lowercase: bool = option(True, "lowercase tokens before looking them up")
    pretrain_embeddings: bool = option(
        False, "start embeddings from PPMI-SVD word vectors of the training texts (and IMDB's 50k unlabeled reviews)"
    )
    pretrained_lm: str = option(
        "", "start the embeddings and the recurrent layer from this language model (python -m sentiment_core "
        "pretrain) and use its vocabulary; the cell and sizes are the language model's"
    )
    init_checkpoint: str = option(
        "", "continue training this classifier checkpoint (fine-tuning): its weights, vocabulary and architecture "
        "are the start; the data must have its classes"
    )
    positive_label: str = option(
        "", "of two classes, the one counted as positive (default: the second class to appear in the data's first "
        "rows; IMDB: positive)"
    )
    lr_decay: float = option(1.0, "discriminative learning rates: the recurrent layers get the lr divided by this, "
                             "the embeddings divided by it twice (ULMFiT: 2.6; 1 = one lr)", min=1.0, max=100.0)
    unfreeze_steps: int = option(0, "gradual unfreezing: train only the classifier for this many steps, then also "
                                 "the recurrent layers, and after as many again the embeddings (0 = all at once)",
                                 min=0, max=MAX_STEPS)
    passages: float = option(0.0, "also train on this many passages (1-3 sentences of a training review, labelled "
                             "as it) per training review, so short texts are in distribution", min=0.0, max=10.0)
    counterfactual: str = option(
        "", "also train on the minimally edited review pairs of this counterfactual TSV (Sentiment, Text, batch_id; "
        "Kaushik et al., 2020); pairs with a validation or test review are left out"
    )
    edited_sentences: int = option(
        0, "with counterfactual: also train on the sentences people edited in its pairs (each side labelled as its "
        "review), this many copies of them (0 = none)", min=0, max=10
    )
    claims: int = option(
        0, "with counterfactual: also train on the short claims of training reviews rated 1-2 or 9-10 stars "
        "themselves ('The plot was dull.'), each labelled as its review: the plain side of what the negations, "
        "questions and contrasts compose from them; this many copies (0 = none)", min=0, max=10
    )
    negations: int = option(
        0, "with counterfactual: also train on its edited sentences and the short claims of training reviews rated "
        "1-2 or 9-10 stars, negated by rule ('not' after the auxiliary, or 'I don't think' before): a negated "
        "positive one as negative, a negated negative one once with each label; this many copies (0 = none)",
        min=0, max=10
    )
    emphatic_negations: int = option(
        0, "with counterfactual: also train on those same sentences negated and closed by 'at all' ('The acting "
        "was not bad at all.'): a negated negative one as positive, a negated positive one as negative; this many "
        "copies (0 = none)", min=0, max=10
    )
    negate_verbs: bool = option(
        False, "with negations: also negate with 'do' the sentences that have no auxiliary, when a pronoun and a "
        "regular verb open them ('I loved it.' -> 'I didn't love it.'), and take such claims from the rated "
        "reviews too (the verbs' base forms are read off the training reviews)"
    )
    questions: int = option(
        0, "with counterfactual: also train on those same sentences turned into yes/no questions ('Was the acting "
        "convincing?'), which say nothing either way: each once with each label; this many copies (0 = none)",
        min=0, max=10
    )
    contrasts: int = option(
        0, "with counterfactual: also train on pairs of opposite labels of those same sentences joined by 'but', "
        "'although', 'even though' or 'however', labelled as the clause that gives the verdict; this many per "
        "sentence (0 = none)", min=0, max=10
    )
    pseudo_labels: str = option(
        "", "also train on IMDB's unlabeled reviews labelled by teacher models, from this file of "
        "'python -m sentiment_core pseudo-label': those the teachers are at least pseudo_min_confidence sure of, "
        "labelled with their answer (IMDB data only)"
    )
    pseudo_min_confidence: float = option(
        0.9, "with pseudo_labels: the teachers' averaged probability of their answer a review needs to be "
        "trained on", min=0.0, max=1.0
    )
    identity_swaps: float = option(
        0.0, "replace each identity term (nationality, religion, gender, sexuality) of a training batch with this "
        "probability by a random term of its group, so none can carry sentiment (counterfactual data "
        "augmentation; 0 = off)", min=0.0, max=1.0
    )
    tie_identity_terms: bool = option(
        False, "give the identity terms of each group (nationality, religion, gender, sexuality) one shared word "
        "vector, their mean at the start, kept shared after every step, so a neutral sentence reads the same "
        "whichever of them it names"
    )
    unpunctuated: float = option(
        0.0, "drop the final '.', '!' or '?' of each training text with this probability, so that a text typed "
        "without one reads the same (0 = off)", min=0.0, max=1.0
    )
    adversarial: float = option(
        0.0, "adversarial training on word embeddings (Miyato et al., 2017): also learn from each batch with its "
        "embeddings moved along the loss gradient by this share of their norm, e.g. 0.02; about 2.6x the step "
        "time; the loss shown is the mean over both readings (0 = off)", min=0.0, max=1.0
    )
    epochs: int = option(5, "passes over the training reviews", min=1, max=MAX_EPOCHS, public_max=3)
    batch_size: int = option(64, "reviews per batch", min=1, max=MAX_BATCH)
    lr: float = option(2e-3, "peak learning rate of AdamW", above=0.0, max=MAX_LR)
    weight_decay: float = option(0.0, "AdamW weight decay", min=0.0, max=MAX_LR)
    schedule: str = option("cosine", "learning-rate schedule after warm-up (linear: slanted triangular with the "
                           "warm-up)", choices=SCHEDULES)
    warmup_steps: int = option(100, "linear learning-rate warm-up steps", min=0, max=MAX_STEPS)
    clip_grad_norm: float = option(1.0, "clip the gradient norm to this (0 = off)", min=0.0)
    patience: int = option(0, "stop after this many epochs without validation gain (0 = off)", min=0, max=MAX_EPOCHS)
    fit_steps: bool = option(False, "fit the batch and epochs to the training set when the run starts: fewer "
                             "reviews than the 22,500 the presets were tuned on get a smaller batch and more epochs "
                             "(as many optimizer steps), stopped early on validation")
    seed: int = option(1234, "seed for splits, initialisation and shuffling", min=0, max=MAX_SEED)
    init_seed: int = option(-1, "seed for initialisation, shuffling and passages alone (-1 = seed): another model "
                            "on the same split", min=-1, max=MAX_SEED)
    device: str = option("auto", "auto picks cuda, then mps, then cpu", choices=DEVICES)
    rnn_path: str = option(
        "padded", "padded batches (exact by masking; 5x faster on CPU) or packed sequences", choices=RNN_PATHS
    )
    precision: str = option(
        "auto", "float32, or bfloat16 mixed precision (autocast); auto = bfloat16 on a CUDA GPU that has it",
        choices=PRECISIONS,
    )
    num_threads: int = option(0, "CPU threads for torch (0 = torch's default)", min=0, max=MAX_THREADS)
    output: str = option("runs/model.safetensors", f"where the best checkpoint is written (a {CHECKPOINT_SUFFIX} file)")
    overwrite: bool = option(False, "replace an existing checkpoint (and its card) at --output")
    save_dtype: str = option("float32", "storage precision of saved weights", choices=SAVE_DTYPES)

    @property
    def model_seed(self) -> int:
        """The seed of everything but the split: ``init_seed``, or ``seed`` when it is -1."""
        return self.seed if self.init_seed < 0 else self.init_seed

    def __post_init__(self) -> None:
        check_fields(self)
        # The card is written next to the checkpoint as <stem>.md: any other suffix could make
        # the two the same file, or put the checkpoint where the card goes.
        name = os.path.basename(self.output)
        if not name.endswith(CHECKPOINT_SUFFIX) or name == CHECKPOINT_SUFFIX:
            raise ValueError(f"output must be a {CHECKPOINT_SUFFIX} file, not {self.output!r}")
        if self.pretrained_lm and self.pretrain_embeddings:
            raise ValueError("pretrained_lm brings its own word vectors: leave pretrain_embeddings off")
        for key in ("edited_sentences", "claims", "negations", "emphatic_negations", "questions", "contrasts"):
            if getattr(self, key) and not self.counterfactual:
                raise ValueError(f"{key} are taken from the counterfactual pairs: name the counterfactual file")
        if self.negate_verbs and not (self.negations or self.emphatic_negations):
            raise ValueError("negate_verbs changes the negated sentences: ask for negations or emphatic_negations")
        if "\0" in self.data:
            raise ValueError("data must not contain a NUL character")
        if self.init_checkpoint and (self.pretrained_lm or self.pretrain_embeddings):
            raise ValueError("init_checkpoint brings its own weights: leave pretrained_lm and pretrain_embeddings off")
        if len(self.positive_label) > MAX_LABEL_NAME or not self.positive_label.isprintable():
            raise ValueError(f"positive_label must be a class name of at most {MAX_LABEL_NAME} printable characters")
        for key in ("text_column", "label_column", "split_column"):
            value = getattr(self, key)
            if len(value) > MAX_COLUMN_NAME or not value.isprintable():
                raise ValueError(f"{key} must be a column name of at most {MAX_COLUMN_NAME} printable characters")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as plain JSON-ready values."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a config from a dict, ignoring keys this version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


# Named starting points. "tutorial" is the original PyTorch sentiment tutorial's model:
# Embedding(25_002, 100) -> RNN(100, 256) -> Linear(256, 1), dropout 0.5, Adam, batch 64, 5 epochs.
PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # The shipped model's recipe: word vectors from the unlabeled reviews, six epochs, cosine decay.
    "default": ({}, dict(pretrain_embeddings=True, epochs=6)),
    "tutorial": (
        dict(cell="rnn", embed_dim=100, hidden_dim=256, num_layers=1, bidirectional=False,
             dropout=0.5, pooling="last"),
        dict(vocab_size=25_000, min_freq=1, lowercase=False, max_tokens=0, epochs=5, batch_size=64,
             lr=1e-3, weight_decay=0.0, schedule="constant", warmup_steps=0, clip_grad_norm=0.0),
    ),
    "lstm": (dict(cell="lstm"), dict(pretrain_embeddings=True, epochs=6)),
    # Multi-class from the same archive: the star rating in four bins (1-2, 3-4, 7-8, 9-10), the
    # default model on the head and tail of each review, three epochs (a few minutes on a CPU).
    "ratings": ({}, dict(imdb_labels="rating-bins", pretrain_embeddings=True, max_tokens=200, epochs=3)),
    # The Train tab's default: 91% on the full test set two minutes after Start on a 2-core CPU
    # (tokens and word vectors cached; three minutes from an empty cache). All
    # 22,500 training reviews; a GRU half the default's width (3x its tokens/s); less dropout and
    # twice the peak learning rate, which two epochs need; batches of 128. The ablation behind
    # each choice is in the README.
    "fast": (
        dict(embed_dim=64, hidden_dim=64, dropout=0.25),
        dict(pretrain_embeddings=True, epochs=2, batch_size=128, lr=8e-3),
    ),
    # Transfer learning: a bi-GRU whose embedding and both directions start from the shipped language
    # model (pretrained on the training and unlabeled reviews), fine-tuned ULMFiT-style with
    # discriminative learning rates, a slanted triangular schedule and gradual unfreezing, on whole
    # reviews and as many passages of them (so short texts are in distribution). The recipe of the
    # shipped readers (their cards' commands start from it).
    "reader": (
        dict(hidden_dim=256, pooling="last+max+mean", dropout=0.3),
        dict(pretrained_lm=str(SHIPPED_LM), epochs=2, batch_size=64, lr=3e-3, lr_decay=2.6, unfreeze_steps=20,
             schedule="linear", warmup_steps=20, passages=1.0),
    ),
    # Transfer learning in minutes, for the Train tab: "fast" whose recurrence starts from the shipped
    # small language model, which learned to read fast's own PPMI-SVD word vectors (held fixed while it
    # pretrained on the training and unlabeled reviews), with the batch and epochs fitted to the labelled
    # set (fit_steps). The README compares it with "fast" at 1,000 and 22,500 labelled reviews.
    "transfer": (
        dict(embed_dim=64, hidden_dim=64, dropout=0.25),
        dict(pretrained_lm=str(SHIPPED_SMALL_LM), epochs=2, batch_size=128, lr=8e-3, fit_steps=True),
    ),
    # A CPU demo in well under a minute: a small slice, and a high learning rate that small data tolerates.
    "quick": (
        dict(embed_dim=64, hidden_dim=64, dropout=0.3, pooling="max+mean"),
        dict(max_train_samples=2000, max_eval_samples=1000, max_tokens=200, vocab_size=10_000,
             epochs=3, lr=1e-2, warmup_steps=20),
    ),
    # Your own small file (the Train tab's choice up to 5,000 rows; fit.py scales it): every word kept,
    # up to 40 short epochs, stopped once validation accuracy has not improved for 4.
    "small": (dict(embed_dim=32, hidden_dim=32, dropout=0.3, pooling="max+mean"),
              dict(min_freq=1, epochs=40, batch_size=32, lr=1e-2, warmup_steps=10, patience=4)),
}


def preset(name: str, **overrides: Any) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs of a named preset, with field overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    model_kw, train_kw = (dict(d) for d in PRESETS[name])
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    train_names = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in overrides.items():
        # vocab_size is in both: ModelConfig's is set from the vocabulary the trainer builds,
        # TrainConfig's decides how big that vocabulary is, so a setting means TrainConfig's.
        if key in train_names:
            train_kw[key] = value
        elif key in model_names:
            model_kw[key] = value
        else:
            raise ValueError(f"unknown config field {key!r}")
    return ModelConfig(**model_kw), TrainConfig(**train_kw)
