"""CIFAR-10 ResNet-20, He et al. 2016 Sec. 4.2 recipe (Table 6: 8.75% test error).

    cnnjax train --config configs/cifar10_resnet20.py --workdir runs/cifar10_resnet20
    cnnjax train --config configs/cifar10_resnet20.py:resnet56 --workdir runs/cifar10_resnet56

Option A (zero-padded identity) shortcuts; SGD momentum 0.9, batch 128, lr 0.1 divided by 10 at 32k
and 48k iterations, 64k iterations, weight decay 1e-4 (L2 in the loss, as the paper's Caffe/torch
weight decay); per-pixel-mean-free inputs, 4-pixel zero-pad + random 32x32 crop and horizontal flip.
Presets (`--config configs/cifar10_resnet20.py:PRESET`): the paper's depths resnet20 (the default),
resnet32, resnet44, resnet56, resnet110 (paper: 8.75, 7.51, 7.17, 6.97, 6.43% error); they set config.model
only (the paper also warms ResNet-110 up at lr 0.01 for ~400 steps, which this recipe does not).
Milestones are given in epochs of 50000 // batch_size steps; they are exact for batch 128.
"""

from cnnjax.train.config import apply_preset, default_config

TRAIN_EXAMPLES = 50_000
PRESETS = {f"resnet{depth}": {"model": f"cifar_resnet{depth}"} for depth in (20, 32, 44, 56, 110)}


def get_config(preset: str | None = None):
  config = default_config()
  config.model = "cifar_resnet20"
  config.dataset.name = "cifar10"
  config.dataset.num_classes = 10
  config.dataset.mean = (0.4914, 0.4822, 0.4465)
  config.dataset.std = (0.2470, 0.2435, 0.2616)
  config.batch_size = 128
  config.eval_batch_size = 1000
  config.num_train_steps = 64_000
  steps_per_epoch = TRAIN_EXAMPLES // config.batch_size
  config.optimizer.learning_rate = 0.1
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 1e-4
  config.optimizer.weight_decay_mode = "l2"
  config.schedule.name = "multistep"
  config.schedule.boundaries_epochs = (32_000 / steps_per_epoch, 48_000 / steps_per_epoch)
  config.schedule.decay_factor = 0.1
  config.augment = {"crop": {"padding": 4}, "flip": {}}
  config.eval_every_epochs = 10.0
  config.checkpoint_every_steps = 4000
  config.xla_cpu_multi_output_fusion = True  # faster CPU steps for this narrow net (benchmarks/cpu_step.py)
  apply_preset(config, PRESETS, preset)
  return config.lock()
