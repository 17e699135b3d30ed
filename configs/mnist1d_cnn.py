"""The MNIST-1D CNN of Greydanus 2020 (3 strided Conv1d of 25 channels + linear), the 94% row.

    cnnjax train --config configs/mnist1d_cnn.py --workdir runs/mnist1d_cnn

Signals [40, 1] as stored, batch 100, SGD momentum 0.9 with a cosine schedule.
Report: reports/mnist1d/README.md.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "mnist1d_cnn"
  config.dataset.name = "mnist1d"
  config.dataset.image_key = "signal"
  config.dataset.mean = (0.0,)
  config.dataset.std = (1.0,)
  config.batch_size = 100
  config.eval_batch_size = 1000
  config.num_epochs = 150.0
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 0.0
  config.schedule.name = "cosine"
  config.eval_every_epochs = 10.0
  config.log_every_steps = 40
  config.checkpoint_every_steps = 100_000
  config.progress_bar = False
  return config.lock()
