"""U-Net (padded, width 8, batch norm) on the composed Fashion-MNIST scenes: 11-class segmentation.

    cnnjax train --config configs/fashion_scenes_unet.py --workdir runs/fashion_scenes_unet

64x64 scenes of 2-4 real Fashion-MNIST garments (cnnjax/data/fashion_scenes.py; 4000 train,
1000 test), pixel-wise cross-entropy, SGD momentum 0.9, cosine from 0.05, batch 8, 8000 steps, horizontal flips.
Recorded run: results/segmentation/fashion_scenes_unet/results.json (test mean IoU over the whole
split from one confusion matrix).

The recorded run was trained in four legs as the shared CPU allowed, each resuming the last
checkpoint of the one before (resume is exact; the cosine schedule restarts at its value for the
new length, i.e. warm restarts):

    cnnjax train --config configs/fashion_scenes_unet.py --workdir runs/fashion_scenes_unet --config.num_train_steps=900
    cnnjax train --config configs/fashion_scenes_unet.py --workdir runs/fashion_scenes_unet --config.num_train_steps=3000
    cnnjax train --config configs/fashion_scenes_unet.py --workdir runs/fashion_scenes_unet --config.num_train_steps=5000
    cnnjax train --config configs/fashion_scenes_unet.py --workdir runs/fashion_scenes_unet
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.task = "segmentation"
  config.model = "unet_padded"
  config.model_kwargs.features = 8
  config.model_kwargs.norm = True
  config.dataset.name = "fashion_scenes"
  config.dataset.label_key = "segmentation_mask"
  config.dataset.num_classes = 11
  config.dataset.mean = (0.1507,)
  config.dataset.std = (0.2946,)
  config.augment.flip = {}
  config.batch_size = 8
  config.eval_batch_size = 200
  config.num_epochs = 8.0
  config.num_train_steps = 8000  # CPU budget: 16 epochs
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.1
  config.log_every_steps = 50
  config.checkpoint_every_steps = 250
  config.eval_every_epochs = 0.0
  config.progress_bar = False
  return config.lock()
