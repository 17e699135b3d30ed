"""VGG-16 (batch norm, 1/8 width, fc 256) on Fashion-MNIST at 56x56: the classifier FCN-8s starts from.

    cnnjax train --config configs/fashion_mnist_vgg16_garments.py --workdir runs/fashion_mnist_vgg16_garments

Why this shape: its conv stages are exactly FCN-8s' backbone in configs/fashion_scenes_fcn8s.py (VGG-16
at width 0.125 with batch norm, 8..64 channels) and its fc6/fc7 have FCN's 256 maps, so the trained
variables convolutionalise into FCN's (cnnjax.weights.convolutionalize). The garments are resized
28 -> 56, the size they have in the scenes (28-pixel garments in 64x64 scenes resized to 128), and
normalised with the scenes' mean and std so that the first convolution sees the same pixel values.
At 56x56 pool5 is 1x1 (56 -> 28 -> 14 -> 7 -> 3 -> 1), so pool_size (1, 1) and fc6 becomes a 1x1
convolution, centred on its pool5 cell like FCN's. SGD momentum 0.9, cosine from 0.05 with a short
warmup, batch 128, 2400 steps (5.1 epochs; a short schedule for the shared 2-core CPU).
Recorded run: results/fine_tuning/fashion_mnist_vgg16_garments/results.json.
"""

from cnnjax.models.fcn import scaled_vgg16_stages
from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "vgg16_bn"
  config.model_kwargs.stages = scaled_vgg16_stages(0.125)
  config.model_kwargs.hidden_size = 256
  config.model_kwargs.pool_size = (1, 1)
  config.model_kwargs.dropout_rate = 0.1
  config.dataset.image_size = 56
  config.dataset.mean = (0.1507,)  # the scenes' (configs/fashion_scenes_fcn8s.py)
  config.dataset.std = (0.2946,)
  config.batch_size = 128
  config.num_train_steps = 2400
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.1
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.eval_every_epochs = 0.0
  config.progress_bar = False
  return config.lock()
