"""Recurrent-network sentiment classification of IMDB movie reviews."""

from pathlib import Path

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import ModelConfig, TrainConfig, preset
from .data import Corpus, DataError, load_corpus
from .evaluation import Metrics, evaluate
from .mistakes import ErrorRow, ErrorTable, error_table
from .model import SentimentRNN
from .predict import EmptyTextError, GradientFlow, Predictor
from .tokenizer import tokenize
from .training import train
from .vocab import Vocab

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "default.safetensors"

__all__ = [
    "DEFAULT_CHECKPOINT", "Checkpoint", "CheckpointError", "Corpus", "DataError", "EmptyTextError", "ErrorRow",
    "ErrorTable", "GradientFlow", "Metrics", "ModelConfig", "Predictor", "SentimentRNN", "TrainConfig", "Vocab",
    "error_table", "evaluate", "load_checkpoint", "load_corpus", "preset", "save_checkpoint", "tokenize", "train",
]
