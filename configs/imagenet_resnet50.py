"""ImageNet ResNet-50, Goyal et al. 2017 ("Accurate, Large Minibatch SGD") recipe.

    cnnjax train --config configs/imagenet_resnet50.py --workdir runs/imagenet_resnet50 --config.batch_size=1024
    cnnjax train --config configs/imagenet_resnet50.py:resnet18 --workdir runs/imagenet_resnet18

lr 0.1 x batch / 256 (linear scaling rule, config.optimizer.scale_by_batch), 5-epoch linear warmup
from 0, 90 epochs, lr /10 at epochs 30, 60, 80; SGD momentum 0.9, weight decay 1e-4 on weights only
(not on BN scales/offsets or biases), zero-initialised last BN scale of every residual block.
Training images: random-resized-crop to 224x224 (area 8-100%, aspect 3/4-4/3) in tf.data, then a
random horizontal flip in the step; evaluation resizes the shorter side to 256 and takes the centre 224x224
crop (config.dataset.eval_crop_fraction = 0.875). Expected top-1 ~76.3% (paper: 23.6% error
at batch 8k; torchvision's v1.5 weights: 76.13%). Needs imagenet2012 prepared in tfds (manual download).
Presets (`--config configs/imagenet_resnet50.py:PRESET`): the same recipe for resnet18, resnet34, resnet50 (the
default), resnet101, resnet152 (config.model); torchvision's weights reach 69.76, 73.31, 76.13, 77.37, 78.31%.
"""

from cnnjax.train.config import apply_preset, default_config

PRESETS = {f"resnet{depth}": {"model": f"resnet{depth}"} for depth in (18, 34, 50, 101, 152)}


def get_config(preset: str | None = None):
  config = default_config()
  config.model = "resnet50"
  config.model_kwargs.zero_init_last_bn = True
  config.dataset.name = "imagenet2012"
  config.dataset.train_split = "train"
  config.dataset.eval_split = "validation"
  config.dataset.num_classes = 1000
  config.dataset.image_size = 224
  config.dataset.random_resized_crop = True
  config.dataset.eval_crop_fraction = 0.875  # resize shorter side to 256, centre crop 224
  config.dataset.crop_area_range = (0.08, 1.0)
  config.dataset.crop_aspect_ratio_range = (3 / 4, 4 / 3)
  config.dataset.mean = (0.485, 0.456, 0.406)
  config.dataset.std = (0.229, 0.224, 0.225)
  config.dataset.cache = False
  config.dataset.shuffle_buffer = 16_384
  config.batch_size = 256
  config.eval_batch_size = 250
  config.num_epochs = 90.0
  config.optimizer.learning_rate = 0.1
  config.optimizer.scale_by_batch = True
  config.optimizer.momentum = 0.9
  config.optimizer.nesterov = False
  config.optimizer.weight_decay = 1e-4
  config.optimizer.weight_decay_mode = "l2"
  config.schedule.name = "multistep"
  config.schedule.warmup_epochs = 5.0
  config.schedule.boundaries_epochs = (30.0, 60.0, 80.0)
  config.schedule.decay_factor = 0.1
  config.augment = {"flip": {}}
  config.eval_every_epochs = 1.0
  config.checkpoint_every_steps = 5000
  apply_preset(config, PRESETS, preset)
  return config.lock()
