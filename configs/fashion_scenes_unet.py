"""U-Net (padded, width 8, batch norm) on the composed Fashion-MNIST scenes: 11-class segmentation.

    cnnjax train --config configs/fashion_scenes_unet.py --workdir runs/fashion_scenes_unet

64x64 scenes of 2-4 real Fashion-MNIST garments (cnnjax/data/fashion_scenes.py; 20000 train,
2000 test), pixel-wise cross-entropy, SGD momentum 0.9, cosine from 0.1, batch 32, 6000 steps
(9.6 epochs), horizontal flips.
Recorded run: results/segmentation/fashion_scenes_unet/results.json (test mean IoU over the whole
split from one confusion matrix).
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.task = "segmentation"
  config.model = "unet_padded"
  config.model_kwargs.features = 8
  config.model_kwargs.batch_norm = True
  config.dataset.name = "fashion_scenes"
  config.dataset.label_key = "segmentation_mask"
  config.dataset.num_classes = 11
  config.dataset.mean = (0.1507,)
  config.dataset.std = (0.2946,)
  config.augment.flip = {}
  config.batch_size = 32
  config.eval_batch_size = 200
  config.num_epochs = 8.0
  config.num_train_steps = 6000  # CPU budget: 9.6 epochs
  config.optimizer.learning_rate = 0.1
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.1
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.eval_every_epochs = 0.0
  config.progress_bar = False
  return config.lock()
