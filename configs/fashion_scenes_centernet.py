"""CenterNet (a single-stage, anchor-free detector) on a ResNet-20 backbone on the Fashion-MNIST scenes.

    cnnjax train --config configs/fashion_scenes_centernet.py --workdir runs/fashion_scenes_centernet

64x64 grey scenes of 2-4 real Fashion-MNIST garments with one box and class per garment
(cnnjax/data/fashion_scenes.py, 20000 train / 2000 test), 10 classes. CenterNet (Zhou et al. 2019) reads
layer3 of ResNet-20 with a stride-2 stem (centernet_resnet20_s8: 64 maps at stride 8, 8x8 cells, a garment
spans 3-4; 47.4M multiply-adds per scene against 189.6M for the stride-4 centernet_resnet20, by
`cnnjax summary`), focal loss on Gaussian heat maps, L1 on size (x0.1) and offset. SGD momentum 0.9 with cosine decay
from 0.05 after a short warm-up, batch 64, weight decay 1e-4, 16 epochs, horizontal flips (boxes flip with
the pixels). Evaluation: COCO protocol by pycocotools on the 2000 test scenes (mAP@[.5:.95], mAP@.5, ...).
Recorded run: results/detection/fashion_scenes_centernet/results.json.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.task = "detection"
  config.detection.method = "centernet"
  config.model = "centernet_resnet20_s8"
  config.dataset.name = "fashion_scenes"
  config.dataset.objects_key = "objects"
  config.dataset.max_objects = 4
  config.dataset.num_classes = 10
  config.dataset.mean = (0.1507,)
  config.dataset.std = (0.2946,)
  config.augment.flip = {}
  config.batch_size = 64
  config.eval_batch_size = 250
  config.num_epochs = 16.0
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.1
  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.keep_checkpoints = 1
  config.eval_every_epochs = 0.0
  config.progress_bar = False
  return config.lock()
