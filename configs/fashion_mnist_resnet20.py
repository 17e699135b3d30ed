"""CIFAR-style ResNet-20 (He et al. 2016: 16/32/64 channels, option A shortcuts) on Fashion-MNIST with augmentation.

    cnnjax train --config configs/fashion_mnist_resnet20.py --workdir runs/fashion_mnist_resnet20
    cnnjax train --config configs/fashion_mnist_resnet20.py:resnet56,stem2 --workdir runs/fashion_mnist_resnet56_s2

28x28x1 input at full resolution (the paper's stride-1 stem; stages at 28, 14, 7; the stem2 preset,
`--config.model_kwargs.stem_stride=2`, gives ~4x fewer multiply-adds). Random flip + 2-pixel
zero-pad-and-crop inside the step; SGD with Nesterov momentum 0.9, cosine schedule from 0.1 after a
0.3-epoch warmup, L2 weight decay 5e-4, batch 128, 15 epochs.
Published reference: ResNet-18 with augmentation 94.9% (Fashion-MNIST benchmark).
Presets (`--config configs/fashion_mnist_resnet20.py:PRESET`, several joined by commas): the CIFAR depths
resnet20 (the default), resnet32, resnet44, resnet56, resnet110 (config.model), and stem2 (the stride-2 stem).
Recorded run: results/fashion_mnist_resnet20/results.json. Earlier runs with the stride-2 stem:
results/fashion_mnist_resnet20_s2_10ep (10 epochs) and results/fashion_mnist_resnet20_s2_6ep (6 epochs).
"""

from cnnjax.train.config import apply_preset, default_config

PRESETS = {f"resnet{depth}": {"model": f"cifar_resnet{depth}"} for depth in (20, 32, 44, 56, 110)}
PRESETS["stem2"] = {"model_kwargs.stem_stride": 2}


def get_config(preset: str | None = None):
  config = default_config()
  config.model = "cifar_resnet20"
  config.model_kwargs.stem_stride = 1
  config.num_epochs = 15.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.1
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.3
  config.augment = {"flip": {}, "crop": {"padding": 2}}
  config.log_every_steps = 50
  config.xla_cpu_multi_output_fusion = True  # faster CPU steps for this narrow net (benchmarks/cpu_step.py)
  apply_preset(config, PRESETS, preset)
  return config.lock()
