"""The "synthetic" dataset: the scaling study's numpy draws, a pure function of (seed, step), every evaluation
example once on any process count."""

import numpy as np
import pytest

from cnnjax.data import pipeline, sources, synthetic
from cnnjax.errors import InputError
from cnnjax.train.config import check_config, default_config


def _config(shape=(6, 6, 2), num_classes=7, **overrides):
  config = default_config()
  config.dataset.update(synthetic.dataset_fields(shape))
  config.dataset.num_classes = num_classes
  config.update(overrides)
  return config


def test_batches_are_the_scaling_studys_draws():
  """RandomState(seed): all images (standard normal, float32), then labels (uniform int32): the numbers recorded
  in results/scaling stay comparable."""
  batch = synthetic.synthetic_batch(5, (4, 4, 3), 10, seed=1)
  rs = np.random.RandomState(1)
  np.testing.assert_array_equal(batch["image"], rs.standard_normal((5, 4, 4, 3)).astype(np.float32))
  np.testing.assert_array_equal(batch["label"], rs.randint(0, 10, 5).astype(np.int32))
  assert batch["image"].dtype == np.float32 and batch["label"].dtype == np.int32


def test_input_shape_comes_from_image_size_and_the_channels_of_mean():
  ds = _config((6, 6, 2)).dataset
  assert synthetic.input_shape(ds) == (6, 6, 2)
  assert ds.mean == (0.0, 0.0) and ds.std == (1.0, 1.0)
  with pytest.raises(InputError, match="H == W"):
    synthetic.dataset_fields((6, 8, 1))


def test_training_batches_are_a_function_of_seed_and_step_and_split_over_processes():
  ds = _config().dataset
  data = synthetic.make_train_data(ds, batch_size=16, seed=3)
  assert data.steps_per_epoch == synthetic.TRAIN_EXAMPLES // 16 == 256
  first_epoch = [next(data.batches(k))["label"] for k in (0, 1, 255)]
  batches = data.batches(0)
  np.testing.assert_array_equal(next(batches)["image"], synthetic.synthetic_batch(16, (6, 6, 2), 7, seed=4)["image"])
  np.testing.assert_array_equal(next(batches)["label"], first_epoch[1])  # resuming at step 1 sees batch 1
  np.testing.assert_array_equal(next(data.batches(256 + 255))["label"], first_epoch[2])  # epochs repeat
  assert not np.array_equal(first_epoch[0], first_epoch[1])

  halves = [next(synthetic.make_train_data(ds, batch_size=8, seed=3, process_index=i, process_count=2).batches(1))
            for i in range(2)]
  whole = next(data.batches(1))
  for key in ("image", "label"):
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])


def test_a_batch_beyond_the_training_split_is_refused():
  with pytest.raises(InputError, match="lower config.batch_size"):
    synthetic.make_train_data(_config().dataset, batch_size=synthetic.TRAIN_EXAMPLES + 1, seed=0)


@pytest.mark.parametrize("process_count, batch_size", [(1, 100), (3, 50)])
def test_evaluation_counts_every_example_once_on_any_process_count(process_count, batch_size):
  ds = _config().dataset
  parts = [pipeline.make_eval_iterator(ds, "test", batch_size, pipeline.Shard(i, process_count))
           for i in range(process_count)]
  assert len({p.num_batches for p in parts}) == 1
  assert sum(p.num_examples for p in parts) == synthetic.EVAL_EXAMPLES
  per_process = [list(p.iterator) for p in parts]
  assert all(len(batches) == parts[0].num_batches for batches in per_process)
  real = [b["image"][b["mask"] > 0] for batches in zip(*per_process) for b in batches]
  images = np.concatenate(real)
  assert images.shape == (synthetic.EVAL_EXAMPLES, 6, 6, 2)
  assert len({row.tobytes() for row in images}) == synthetic.EVAL_EXAMPLES
  first = synthetic.synthetic_batch(min(batch_size * process_count, synthetic.EVAL_EXAMPLES), (6, 6, 2), 7,
                                    synthetic.EVAL_SEED)
  np.testing.assert_array_equal(images[:len(first["image"])], first["image"])


def test_the_pipeline_serves_synthetic_training_data():
  data = pipeline.make_train_data(_config().dataset, batch_size=4, seed=0)
  assert isinstance(data, synthetic.TrainData) and data.input_shape == (6, 6, 2)
  assert next(data.batches(0))["image"].shape == (4, 6, 6, 2)


def test_config_checks_accept_synthetic_and_name_what_it_needs():
  assert "synthetic" in sources.known_datasets()
  check_config(_config())
  config = _config()
  config.dataset.image_size = 0
  with pytest.raises(InputError, match="config.dataset.image_size > 0"):
    check_config(config)
  config = _config()
  config.dataset.random_resized_crop = True
  with pytest.raises(InputError, match="random_resized_crop"):
    check_config(config)
  config = _config()
  config.dataset.name = "synthetic:1.0.0"
  with pytest.raises(InputError, match="no configs or versions"):
    check_config(config)
