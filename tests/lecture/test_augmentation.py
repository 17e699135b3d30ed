"""Lecture section 'augmentation, measured': the seed summary and the sentence that reports it."""

import pytest

from cnnjax.lecture import augmentation


def _summary(plain, aug):
  return {"no augmentation": augmentation.summarize([{"test_accuracy": a, "test_loss": 1 - a, "train_loss": 0.1}
                                                     for a in plain]),
          "flip + crop": augmentation.summarize([{"test_accuracy": a, "test_loss": 1 - a, "train_loss": 0.3}
                                                 for a in aug])}


def test_summary_and_verdict():
  s = _summary([0.80, 0.82, 0.84], [0.85, 0.86, 0.87])
  assert s["no augmentation"]["test_accuracy"] == {"values": [0.8, 0.82, 0.84], "mean": 0.82, "std": 0.02}
  text = augmentation.describe(s)
  assert "flip + crop gives higher by more than twice the larger seed spread test accuracy (+0.040)" in text
  lower = augmentation.describe(_summary([0.80, 0.82, 0.84], [0.81, 0.815, 0.82]))
  assert "lower by less than twice" in lower and "(-0.005)" in lower


def test_configs_differ_only_in_augmentation_and_seed():
  a = augmentation.settings_config({}, 0, 2000, 40.0)
  b = augmentation.settings_config(augmentation.FLIP_CROP, 1, 2000, 40.0)
  assert a.dataset.train_split == b.dataset.train_split == "train[:2000]"
  assert (a.model, a.num_epochs, a.batch_size) == (b.model, b.num_epochs, b.batch_size) == ("lenet5", 40.0, 100)
  assert dict(a.augment) == {} and b.augment.crop.padding == 2 and b.augment.flip.probability == pytest.approx(0.5)
  assert (a.seed, b.seed) == (0, 1)
