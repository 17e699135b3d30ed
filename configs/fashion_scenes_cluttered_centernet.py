"""CenterNet on the cluttered Fashion-MNIST scenes: the same garments on crops of natural photos.

    cnnjax train --config configs/fashion_scenes_cluttered_centernet.py --workdir runs/fashion_scenes_cluttered_centernet

configs/fashion_scenes_centernet.py's recipe on `fashion_scenes/cluttered` (cnnjax/data/fashion_scenes.py:
the plain scenes' garments, masks and boxes, pasted grey on 64x64 RGB crops of the offline photos; train and
test photos disjoint), so the detector faces texture and clutter and unseen backgrounds at test time.
Mean and std per channel are the training split's (images scaled to [0, 1]). 8 epochs instead of 16, so the
recorded run fits beside the plain one on the shared 2-core CPU (the schedule is cosine over the 8).
Recorded run: results/detection/fashion_scenes_cluttered_centernet/results.json.
"""

from cnnjax.train.config_files import sibling_config


def get_config():
  config = sibling_config(__file__, "fashion_scenes_centernet").unlock()
  config.dataset.name = "fashion_scenes/cluttered"
  config.dataset.mean = (0.4995, 0.4381, 0.4186)
  config.dataset.std = (0.3107, 0.2996, 0.3084)
  config.num_epochs = 8.0
  return config.lock()
