"""Fine-tuning: config.init_from loads matching variables and re-initialises (and reports) a head of another
shape, config.freeze keeps parameters bit-identical, and a resumed fine-tuning run equals an uninterrupted one."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from cnnjax.errors import InputError
from cnnjax.models import get_model
from cnnjax.train import init_from, optim, runner
from tests.train.test_runner import synthetic_run_config


def _saved_params(workdir, step=None):
  directory = workdir / "checkpoints"
  step = step or max(int(p.name) for p in directory.iterdir() if p.name.isdigit())
  return ocp.StandardCheckpointer().restore(directory / str(step) / "default")["params"]


def _flat(tree):
  return {"/".join(str(k.key) for k in path): np.asarray(v) for path, v in jax.tree_util.tree_leaves_with_path(tree)}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
  """A 2-step LeNet-5 run on synthetic 10-class data: the workdir fine-tuning starts from."""
  workdir = tmp_path_factory.mktemp("source")
  runner.train_and_evaluate(synthetic_run_config(num_train_steps=2), workdir)
  return workdir


def test_merge_loads_matching_paths_and_reports_a_head_of_another_shape():
  model = get_model("lenet5", num_classes=5)
  fresh = jax.device_get(dict(model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))))
  source = jax.device_get(dict(get_model("lenet5", num_classes=10).init(jax.random.key(1), jnp.zeros((1, 28, 28, 1)))))
  source["params"]["extra"] = {"kernel": np.zeros((3, 3))}
  merged, report = init_from.merge(fresh, source)
  flat_fresh, flat_source, flat_merged = _flat(fresh), _flat(source), _flat(merged)
  assert report["reinitialised"] == ["params/head/bias (5,) <- (10,)", "params/head/kernel (84, 5) <- (84, 10)"]
  assert report["loaded"] == len(flat_fresh) - 2 and report["missing"] == [] and report["unused"] == 1
  for path, value in flat_merged.items():
    expected = flat_fresh[path] if path.startswith("params/head/") else flat_source[path]
    np.testing.assert_array_equal(value, expected)


def test_fine_tuning_a_run_loads_its_body_reinitialises_the_head_and_freeze_holds_the_convolutions(
    source_run, tmp_path):
  source = _flat(_saved_params(source_run))
  config = synthetic_run_config(num_train_steps=3, init_from=str(source_run), freeze=("^conv",)).unlock()
  config.dataset.num_classes = 5
  results = runner.train_and_evaluate(config.lock(), tmp_path)
  report = results["init_from"]
  assert report["source"] == str(source_run) and report["loaded"] == len(source) - 2
  assert [line.split()[0] for line in report["reinitialised"]] == ["params/head/bias", "params/head/kernel"]
  assert json.loads((tmp_path / "results.json").read_text())["init_from"] == report
  tuned = _flat(_saved_params(tmp_path))
  assert tuned["head/kernel"].shape == (84, 5)
  for path in source:
    if path.startswith("conv"):  # frozen: bit-identical to the source after 3 steps with L2 weight decay
      np.testing.assert_array_equal(tuned[path], source[path], err_msg=path)
    elif path.startswith("fc"):  # loaded, then trained
      assert not np.array_equal(tuned[path], source[path]), path


def test_resumed_fine_tuning_equals_the_uninterrupted_run(source_run, tmp_path):
  """A resume restores the checkpoint (init_from is not applied again): 2 + 2 steps == 4 steps, bitwise."""
  common = dict(init_from=str(source_run), schedule={"name": "constant"}, checkpoint_every_steps=2)
  straight = runner.train_and_evaluate(synthetic_run_config(num_train_steps=4, **common), tmp_path / "straight")
  runner.train_and_evaluate(synthetic_run_config(num_train_steps=2, **common), tmp_path / "split")
  resumed = runner.train_and_evaluate(
      synthetic_run_config(num_train_steps=4, allow_config_change=True, **common), tmp_path / "split")
  assert resumed["init_from"] == straight["init_from"]  # kept from the fresh start
  first, second = _flat(_saved_params(tmp_path / "straight", 4)), _flat(_saved_params(tmp_path / "split", 4))
  for path in first:
    np.testing.assert_array_equal(first[path], second[path], err_msg=path)


@pytest.mark.parametrize("mode", ["l2", "decoupled"])
def test_frozen_parameters_get_no_update_from_momentum_or_weight_decay(mode):
  params = {"backbone": {"kernel": jnp.ones((2, 2))}, "head": {"kernel": jnp.ones((2, 2))}}
  opt = {"momentum": 0.9, "weight_decay": 0.1, "weight_decay_mode": mode}
  tx = optim.with_frozen(optim.make_optimizer(_Config(opt), optax.constant_schedule(0.1)), ("^backbone/",))
  state = tx.init(params)
  grads = jax.tree.map(lambda p: p + 0.1 * optim.l2_coefficient(_Config(opt)), params)  # L2's gradient too
  for _ in range(3):
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(params["backbone"]["kernel"], np.ones((2, 2)))
  assert np.all(np.asarray(params["head"]["kernel"]) < 1.0)


def test_a_freeze_pattern_that_matches_nothing_is_refused_in_one_line():
  params = {"backbone": {"kernel": jnp.ones(2)}}
  with pytest.raises(InputError, match=r"config.freeze pattern '\^head' matches no parameter path") as e:
    optim.freeze_labels(params, ("^head",))
  assert "\n" not in str(e.value)


def test_a_source_that_is_no_run_is_refused(tmp_path):
  with pytest.raises(InputError, match="neither a weights directory nor a workdir with a saved checkpoint"):
    init_from.read_source(tmp_path)


class _Config(dict):
  """The optimizer section as make_optimizer reads it (attributes and .get)."""
  __getattr__ = dict.__getitem__


def test_a_weights_directory_is_a_source(tmp_path):
  """config.init_from = a folder written by cnnjax.weights.directory.save_weights: its variables, digests checked."""
  from cnnjax.weights.directory import save_weights
  variables = jax.device_get(dict(get_model("lenet5", num_classes=10).init(jax.random.key(1), jnp.zeros((1, 28, 28, 1)))))
  save_weights(tmp_path / "lenet5", "lenet5", {"num_classes": 10}, variables, input_shape=(28, 28, 1), mean=(0.5,),
               std=(0.5,), class_names=None, preprocessing="resize", source={"from": "test"})
  source = init_from.read_source(tmp_path / "lenet5")
  fresh = jax.device_get(dict(get_model("lenet5", num_classes=5).init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))))
  merged, report = init_from.merge(fresh, source)
  assert report["loaded"] == len(_flat(fresh)) - 2 and len(report["reinitialised"]) == 2
  np.testing.assert_array_equal(merged["params"]["conv1"]["kernel"], variables["params"]["conv1"]["kernel"])
