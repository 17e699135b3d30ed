"""VGG-16 with batch norm (Simonyan & Zisserman 2015, torchvision's configuration D) on Fashion-MNIST.

    cnnjax train --config configs/fashion_mnist_vgg16.py --workdir runs/fashion_mnist_vgg16
    cnnjax reproduce fashion_mnist --rows vgg16 --quick      # 20 steps: checks the row end to end on CPU
    cnnjax reproduce fashion_mnist --rows vgg16              # the full row (15 epochs; hours on a CPU)

The five 2x2 pools need an input of at least 32x32, so the 28x28 images are resized to 32x32
(config.dataset.image_size): stages at 32, 16, 8, 4, 2, and pool5 leaves 1x1x512. The head is the
CIFAR form of VGG (pool_size 1x1, two 512-wide hidden layers, dropout 0.5) instead of ImageNet's
7x7x512 -> 4096 -> 4096, which would copy one pixel 49 times into a 103 M-parameter fc6; that gives
15.25 M parameters and 0.31 G multiply-adds per image. Random flip + 2-pixel pad-and-crop, SGD with
Nesterov momentum 0.9, cosine schedule from 0.05 after a 0.3-epoch warmup, weight decay 5e-4, batch 128, 15 epochs
(fashion_mnist_resnet20.py's recipe at half its learning rate).
Published reference: VGG16 93.5% (Fashion-MNIST benchmark table). No recorded run yet.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "vgg16_bn"
  config.model_kwargs.pool_size = (1, 1)
  config.model_kwargs.hidden_size = 512
  config.dataset.image_size = 32
  config.num_epochs = 15.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.05
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.3
  config.augment = {"flip": {}, "crop": {"padding": 2}}
  config.log_every_steps = 50
  return config.lock()
