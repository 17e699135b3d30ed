"""CenterNet on the cluttered Fashion-MNIST scenes: the same garments on crops of natural photos.

    cnnjax train --config configs/fashion_scenes_cluttered_centernet.py --workdir runs/fashion_scenes_cluttered_centernet

configs/fashion_scenes_centernet.py's recipe on `fashion_scenes/cluttered` (cnnjax/data/fashion_scenes.py:
the plain scenes' garments, masks and boxes, pasted grey on 64x64 RGB crops of the offline photos; train and
test photos disjoint), so the detector faces texture and clutter and unseen backgrounds at test time.
Mean and std per channel are the training split's (images scaled to [0, 1]). 8 epochs instead of 16, so the
recorded run fits beside the plain one on the shared 2-core CPU (the schedule is cosine over the 8).
Recorded run: results/detection/fashion_scenes_cluttered_centernet/results.json.
"""

import importlib.util
from pathlib import Path


def _sibling(name: str):
  """The config file `name`.py next to this one (configs/ in a checkout, cnnjax/configs in a wheel)."""
  spec = importlib.util.spec_from_file_location(f"cnnjax_config_{name}", Path(__file__).with_name(f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config():
  config = _sibling("fashion_scenes_centernet").get_config().unlock()
  config.dataset.name = "fashion_scenes/cluttered"
  config.dataset.mean = (0.4995, 0.4381, 0.4186)
  config.dataset.std = (0.3107, 0.2996, 0.3084)
  config.num_epochs = 8.0
  return config.lock()
