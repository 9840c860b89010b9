"""Model cards: written next to their checkpoint, never over it, never over a file they didn't write."""

import pytest
import torch

from sentiment_core.card import is_card, render_card, write_card
from sentiment_core.checkpoint import load_checkpoint, save_checkpoint, update_checkpoint
from sentiment_core.config import ModelConfig, TrainConfig
from sentiment_core.evaluation import Metrics
from sentiment_core.model import SentimentRNN
from sentiment_core.vocab import Vocab

VAL = Metrics.from_counts(0.3, 4, 1, 0, 5).to_dict()


def make_checkpoint(path):
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    return save_checkpoint(path, model, vocab, TrainConfig(), {"val": VAL, "test": VAL}, {"name": "c"})


def test_a_card_never_overwrites_its_own_checkpoint(tmp_path):
    ckpt = make_checkpoint(tmp_path / "ckpt.md")  # a checkpoint saved under a card's name
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match="overwritten by its own card"):
        write_card(ckpt)
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt)


def test_a_card_never_overwrites_a_file_it_did_not_write(tmp_path):
    ckpt = make_checkpoint(tmp_path / "foo.safetensors")
    notes = tmp_path / "foo.md"
    notes.write_text("# My notes on foo\n\nPlease keep.\n")
    with pytest.raises(FileExistsError, match="not a model card"):
        write_card(ckpt)
    assert notes.read_text() == "# My notes on foo\n\nPlease keep.\n"
    assert write_card(ckpt, overwrite=True) == notes and is_card(notes)


def test_an_older_card_is_replaced(tmp_path):
    ckpt = make_checkpoint(tmp_path / "foo.safetensors")
    card = ckpt.with_suffix(".md")
    card.write_text("# Model card: foo\n\nold figures\n")
    assert write_card(ckpt) == card
    assert card.read_text(encoding="utf-8") == render_card(ckpt)


def test_a_card_shows_angle_brackets_and_header_text_as_written(tmp_path):
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(0)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    info = {"name": "<b>my</b> *run*", "hardware": "CPU x86_64, 1 threads", "command": "train --name `x`"}
    ckpt = save_checkpoint(tmp_path / "c.safetensors", model, vocab, TrainConfig(), {"val": VAL, "test": VAL}, info)
    card = render_card(ckpt)
    assert card.startswith("# Model card: &lt;b&gt;my&lt;/b&gt; \\*run\\*\n")  # shown as written, not as HTML
    assert "`<pad>` and `<unk>` included" in card and "one token, `<unk>`" in card
    assert "x86_64, 1 thread (torch" in card  # older headers said "1 threads"
    assert "- Command: `` train --name `x` ``" in card
    assert "<unk>" not in card.replace("`<unk>`", "")  # every bare <unk> would vanish in Markdown


def seed_checkpoint(path, init_seed, val, test, **changes):
    vocab = Vocab.build([["good", "bad", "film"]])
    torch.manual_seed(init_seed)
    model = SentimentRNN(ModelConfig(vocab_size=len(vocab), embed_dim=4, hidden_dim=4))
    cfg = TrainConfig(init_seed=init_seed, output=str(path), passages=1.0, **changes)
    # Of 10 reviews, ``val`` and ``test`` right: the rest are false positives.
    metrics = {"val": Metrics.from_counts(0.3, val, 10 - val, 0, 0).to_dict(),
               "test": Metrics.from_counts(0.3, test, 10 - test, 0, 0).to_dict()}
    return save_checkpoint(path, model, vocab, cfg, metrics, {"name": f"seed {init_seed}", "train_examples": 12})


def test_the_card_gives_the_mean_and_spread_of_the_seeds_of_its_recipe(tmp_path):
    from sentiment_core.cli import main

    paths = [seed_checkpoint(tmp_path / f"s{i}.safetensors", i, 9, test) for i, test in ((1, 8), (2, 9), (3, 10))]
    assert main(["card", str(paths[0]), "--seeds", str(paths[1]), str(paths[2])]) == 0
    card = paths[0].with_suffix(".md").read_text(encoding="utf-8")
    assert "Test accuracy: mean 90.00%, standard deviation 10.00%." in card
    assert "| 1 (this file) | 90.0% | 80.0% |" in card and "| 3 | 90.0% | 100.0% |" in card
    assert "1 passage (1-3 sentences, labelled as their review) per training review; 12 training examples" in card
    assert load_checkpoint(paths[0]).metrics["seeds"][0]["this"] is True
    # A seed trained later is added to those recorded; the seeds' own files need not be kept.
    fourth = seed_checkpoint(tmp_path / "s4.safetensors", 4, 9, 9)
    for path in paths[1:]:
        path.unlink()
    assert main(["card", str(paths[0]), "--seeds", str(fourth)]) == 0
    card = paths[0].with_suffix(".md").read_text(encoding="utf-8")
    assert "with 4 initialisation seeds" in card
    assert "| 3 | 90.0% | 100.0% |" in card and "| 4 | 90.0% | 90.0% |" in card
    other = seed_checkpoint(tmp_path / "other.safetensors", 4, 9, 9, lr=0.1)  # not the same recipe
    assert main(["card", str(paths[0]), "--seeds", str(other)]) == 1


def test_seeds_of_a_two_stage_recipe_each_continue_their_own_first_stage(tmp_path):
    from sentiment_core.cli import main

    def continued(seed, first_stage_options="--epochs 4"):
        path = seed_checkpoint(tmp_path / f"c{seed}.safetensors", seed, 9, 9,
                               init_checkpoint=f"runs/s{seed}.safetensors")
        command = (f"python -m sentiment_core train --preset reader {first_stage_options} --init-seed {seed} "
                   f"--num-threads 1 --overwrite --output runs/s{seed}.safetensors")
        return update_checkpoint(path, info={"continued_from": f"s{seed}.safetensors", "continued_command": command})

    first, second = continued(1), continued(2)
    assert main(["card", str(first), "--seeds", str(second)]) == 0
    card = first.with_suffix(".md").read_text(encoding="utf-8")
    assert "with 2 initialisation seeds" in card
    assert ("- Continued from `s1.safetensors`: its weights and vocabulary were the start, and it was trained with "
            "`python -m sentiment_core train --preset reader --epochs 4 --init-seed 1") in card
    # A start made by another first-stage recipe is not the same recipe.
    assert main(["card", str(first), "--seeds", str(continued(3, "--epochs 2"))]) == 1


def test_the_card_names_the_composed_sentences_a_model_trained_on(tmp_path):
    path = seed_checkpoint(tmp_path / "m.safetensors", 1, 9, 9, counterfactual="pairs.tsv", edited_sentences=2,
                           claims=1, negations=1, emphatic_negations=1, questions=1, contrasts=2)
    card = render_card(path)
    assert "the sentences people edited in those pairs, each side labelled as its review (2 copies)" in card
    assert 'short claims of training reviews rated 1-2 or 9-10 stars ("The plot was dull."), each labelled as ' \
           'its review (1 copy)' in card
    assert "negated by rule (a negated positive one labelled negative, a negated negative one once with each " \
           "label) (1 copy)" in card
    assert '2 contrasts per such sentence: two of opposite labels joined by "but"' in card
    assert 'those sentences turned into yes/no questions ("Was the acting convincing?"), each once with each ' \
           'label (1 copy)' in card
    assert 'negated and closed by "at all" (a negated negative one labelled positive, a negated positive one ' \
           'negative) (1 copy)' in card
    assert "do" not in card.split("negated by rule")[1][:30]
    verbs = render_card(seed_checkpoint(tmp_path / "v.safetensors", 1, 9, 9, counterfactual="pairs.tsv",
                                        negations=1, emphatic_negations=1, negate_verbs=True))
    assert ('negated by rule (with "do" where a pronoun and a regular verb open a sentence with no auxiliary: "I '
            'didn\'t love it.") (a negated positive one') in verbs
    assert 'negated and closed by "at all"' in verbs  # said once, with the first of them
    taught = render_card(seed_checkpoint(tmp_path / "p.safetensors", 1, 9, 9, pseudo_labels="runs/teach.json",
                                         pseudo_min_confidence=0.95))
    assert ("unlabeled IMDB reviews labelled by the teacher models of `teach.json` (their averaged answer, where it "
            "was at least 95% sure)") in taught


def test_seeds_of_a_three_stage_recipe_compare_every_earlier_stage_less_its_per_seed_start(tmp_path):
    from sentiment_core.cli import main

    def third_stage(seed, first_epochs=4):
        path = seed_checkpoint(tmp_path / f"t{seed}.safetensors", seed, 9, 9,
                               init_checkpoint=f"runs/b{seed}.safetensors")
        first = f"python -m sentiment_core train --preset reader --epochs {first_epochs} --init-seed {seed} " \
                f"--output runs/a{seed}.safetensors"
        second = f"python -m sentiment_core train --init-checkpoint runs/a{seed}.safetensors --epochs 1 " \
                 f"--adversarial 0.02 --init-seed {seed} --output runs/b{seed}.safetensors"
        return update_checkpoint(path, info={"continued_from": f"b{seed}.safetensors", "continued_command": second,
                                             "earlier_commands": [first]})

    first = third_stage(1)
    assert main(["card", str(first), "--seeds", str(third_stage(2))]) == 0
    assert "with 2 initialisation seeds" in first.with_suffix(".md").read_text(encoding="utf-8")
    # The stage before the start's differs: another recipe.
    assert main(["card", str(first), "--seeds", str(third_stage(3, first_epochs=2))]) == 1
