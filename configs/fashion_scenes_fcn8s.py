"""FCN-8s (VGG-16 at 1/8 width with batch norm, fc6/fc7 256 maps) on the composed Fashion-MNIST scenes.

    cnnjax train --config configs/fashion_scenes_fcn8s.py --workdir runs/fashion_scenes_fcn8s

64x64 scenes of 2-4 real Fashion-MNIST garments (cnnjax/data/fashion_scenes.py; 4000 train,
1000 test), 11 classes. Trained from scratch, so the backbone uses batch norm and dropout is light;
the final 8x upsampling starts bilinear and is learned (learn_final_upsampling) because the 8x8
score map of a 64x64 scene is coarse next to 28-pixel garments. SGD momentum 0.9, cosine from 0.05,
batch 8, 6000 steps, horizontal flips.
Recorded run: results/segmentation/fashion_scenes_fcn8s/results.json.

The recorded run was trained in three legs as the shared CPU allowed, each resuming the last
checkpoint of the one before (resume is exact; the cosine schedule restarts at its value for the
new length, i.e. warm restarts):

    cnnjax train --config configs/fashion_scenes_fcn8s.py --workdir runs/fashion_scenes_fcn8s --config.num_train_steps=1000
    cnnjax train --config configs/fashion_scenes_fcn8s.py --workdir runs/fashion_scenes_fcn8s --config.num_train_steps=3500
    cnnjax train --config configs/fashion_scenes_fcn8s.py --workdir runs/fashion_scenes_fcn8s
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.task = "segmentation"
  config.model = "fcn8s"
  config.model_kwargs.width = 0.125
  config.model_kwargs.fc_features = 256
  config.model_kwargs.batch_norm = True
  config.model_kwargs.dropout_rate = 0.1
  config.model_kwargs.learn_final_upsampling = True
  config.dataset.name = "fashion_scenes"
  config.dataset.label_key = "segmentation_mask"
  config.dataset.num_classes = 11
  config.dataset.mean = (0.1507,)
  config.dataset.std = (0.2946,)
  config.augment.flip = {}
  config.batch_size = 8
  config.eval_batch_size = 200
  config.num_epochs = 8.0
  config.num_train_steps = 6000  # CPU budget: 12 epochs
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.1
  config.log_every_steps = 50
  config.checkpoint_every_steps = 250
  config.eval_every_epochs = 0.0
  config.progress_bar = False
  return config.lock()
