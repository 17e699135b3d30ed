"""Linear classifier y = Wx + b on Fashion-MNIST (softmax regression).

    cnnjax train --config configs/fashion_mnist_linear.py --workdir runs/fashion_mnist_linear

Recorded run (results/fashion_mnist_linear/results.json, commit 9644d25): 84.40% test accuracy.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "linear"
  config.num_epochs = 10.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.01
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "cosine"
  return config.lock()
