"""Logistic regression (linear softmax classifier) on MNIST-1D, the 32% row of Greydanus 2020.

    cnnjax train --config configs/mnist1d_linear.py --workdir runs/mnist1d_linear

Signals [40, 1] as stored (make_dataset already standardises them), batch 100,
SGD momentum 0.9 with a cosine schedule. Report: reports/mnist1d/README.md.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "linear"
  config.dataset.name = "mnist1d"
  config.dataset.image_key = "signal"
  config.dataset.mean = (0.0,)
  config.dataset.std = (1.0,)
  config.batch_size = 100
  config.eval_batch_size = 1000
  config.num_epochs = 50.0
  config.optimizer.learning_rate = 0.01
  config.optimizer.weight_decay = 0.0
  config.schedule.name = "cosine"
  config.eval_every_epochs = 5.0
  config.log_every_steps = 40
  config.checkpoint_every_steps = 100_000
  config.progress_bar = False
  return config.lock()
