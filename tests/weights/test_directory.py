"""Weights directories: a save/load round trip is exact, and damaged or clashing folders are refused in one line."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.errors import InputError
from cnnjax.models import get_model
from cnnjax.weights import directory


@pytest.fixture(scope="module")
def lenet():
  model = get_model("lenet5", num_classes=10)
  return model, model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False)


def _save(folder, variables):
  return directory.save_weights(folder, "lenet5", {"num_classes": 10}, variables, input_shape=(28, 28, 1),
                                mean=(0.286,), std=(0.353,), class_names=[f"c{i}" for i in range(10)],
                                preprocessing="resize", source={"from": "test"})


def test_round_trip_is_exact_and_computes_the_same_logits(lenet, tmp_path):
  model, variables = lenet
  out = _save(tmp_path / "w", variables)
  assert directory.is_weights_directory(out) and not directory.is_weights_directory(tmp_path)
  loaded = directory.load_weights(out)
  assert (loaded.model, loaded.model_kwargs, loaded.input_shape) == ("lenet5", {"num_classes": 10}, (28, 28, 1))
  assert loaded.class_names[3] == "c3" and loaded.preprocessing == "resize" and loaded.mean == (0.286,)
  flat, saved = jax.tree.leaves(loaded.variables), jax.tree.leaves(variables)
  assert len(flat) == len(saved) and all(np.array_equal(a, b) for a, b in zip(flat, saved))
  x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1))
  restored = get_model(loaded.model, **loaded.model_kwargs)
  np.testing.assert_array_equal(restored.apply(loaded.variables, x, train=False), model.apply(variables, x, train=False))
  assert not list(tmp_path.glob(".*partial*"))  # the staging folder is gone


def test_existing_folder_is_never_overwritten(lenet, tmp_path):
  (tmp_path / "w").mkdir()
  (tmp_path / "w" / "notes.txt").write_text("mine")
  with pytest.raises(InputError, match="already exists and is not empty"):
    _save(tmp_path / "w", lenet[1])
  assert [p.name for p in (tmp_path / "w").iterdir()] == ["notes.txt"]
  (tmp_path / "empty").mkdir()
  assert directory.is_weights_directory(_save(tmp_path / "empty", lenet[1]))  # an empty folder is filled


def test_damaged_directories_name_the_file(lenet, tmp_path):
  with pytest.raises(InputError, match="does not exist"):
    directory.load_weights(tmp_path / "missing")
  out = _save(tmp_path / "w", lenet[1])
  meta_path = out / directory.WEIGHTS_JSON
  meta = json.loads(meta_path.read_text())
  meta["digests"]["params/conv1/kernel"] = "0" * 64
  meta_path.write_text(json.dumps(meta))
  with pytest.raises(InputError, match=r"variables: 1 arrays differ .*params/conv1/kernel"):
    directory.load_weights(out)
  meta_path.write_text("{not json")
  with pytest.raises(InputError, match="weights.json cannot be read as JSON"):
    directory.load_weights(out)
  del meta["class_names"]
  meta_path.write_text(json.dumps(meta))
  with pytest.raises(InputError, match="weights.json lacks class_names"):
    directory.load_weights(out)
