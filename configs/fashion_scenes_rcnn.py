"""R-CNN (selective-search proposals, each warped to 32x32 and classified by LeNet-5) on the Fashion-MNIST scenes.

    cnnjax train --config configs/fashion_scenes_rcnn.py --workdir runs/fashion_scenes_rcnn

Girshick et al. 2014 on the 64x64 grey scenes (cnnjax/data/fashion_scenes.py), 10 classes: selective
search in its "fast" mode (cnnjax.segmentation.selective_search) proposes regions once per image before
training (kept beside the dataset, cnnjax/data/proposals.py; the first 64 ranked per image: 64x64 scenes get about 24), each widened
by the paper's context, warped to 32x32 and classified by LeNet-5 into background + 10 classes with
class-specific box regression (cnnjax/models/rcnn.py); class-wise NMS at IoU 0.3. Trained on the first
2000 training scenes (selective search is the cost), evaluated by pycocotools on the 2000 test scenes.
No flips: the proposals are fixed per image. SGD momentum 0.9, cosine from 0.05, batch 32 images.
Recorded run: results/detection/fashion_scenes_rcnn/results.json.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.task = "detection"
  config.detection.method = "rcnn"
  config.detection.nms_iou = 0.3
  config.model = "rcnn_lenet5"
  config.dataset.name = "fashion_scenes"
  config.dataset.train_split = "train[:2000]"
  config.dataset.objects_key = "objects"
  config.dataset.max_objects = 4
  config.dataset.proposals = "fast"
  config.dataset.num_proposals = 64
  config.dataset.num_classes = 10
  config.dataset.mean = (0.1507,)
  config.dataset.std = (0.2946,)
  config.batch_size = 32
  config.eval_batch_size = 100
  config.num_epochs = 8.0
  config.optimizer.learning_rate = 0.05
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "cosine"
  config.schedule.warmup_epochs = 0.1
  config.log_every_steps = 50
  config.checkpoint_every_steps = 250
  config.eval_every_epochs = 0.0
  config.progress_bar = False
  return config.lock()
