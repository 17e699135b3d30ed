"""MLP 40-100-100-10 (ReLU) on MNIST-1D, the 68% row of Greydanus 2020.

    cnnjax train --config configs/mnist1d_mlp.py --workdir runs/mnist1d_mlp

Signals [40, 1] as stored, batch 100, SGD momentum 0.9 with a cosine schedule, L2 weight decay 2e-3.
Report: reports/mnist1d/README.md.
"""

import ml_collections

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "mlp"
  config.model_kwargs = ml_collections.ConfigDict({"hidden_sizes": (100, 100), "activation": "relu"})
  config.dataset.name = "mnist1d"
  config.dataset.image_key = "signal"
  config.dataset.mean = (0.0,)
  config.dataset.std = (1.0,)
  config.batch_size = 100
  config.eval_batch_size = 1000
  config.num_epochs = 50.0
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 2e-3  # without it the MLP memorises the 4,000 signals and tests at ~65%
  config.schedule.name = "cosine"
  config.eval_every_epochs = 5.0
  config.log_every_steps = 40
  config.checkpoint_every_steps = 100_000
  config.progress_bar = False
  return config.lock()
