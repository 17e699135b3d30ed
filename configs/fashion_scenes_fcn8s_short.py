"""FCN-8s on the Fashion-MNIST scenes from scratch, on the short schedule of the fine-tuning comparison.

    cnnjax train --config configs/fashion_scenes_fcn8s_short.py --workdir runs/fine_tuning/fashion_scenes_fcn8s_short

configs/fashion_scenes_fcn8s.py (FCN-8s, VGG-16 at 1/8 width with batch norm, fc6/fc7 256 maps, 128x128
scenes, SGD momentum 0.9, cosine from 0.1, batch 32, flips) cut to 625 steps (one epoch) so that a run
fits ~15 minutes of the shared 2-core CPU, and with fc6 a 1x1 convolution on pool5 (fc6_kernel) so that
the twin configs/fashion_scenes_fcn8s_from_classifier.py, identical but for config.init_from, can take
fc6 from a classifier whose pool5 was 1x1 (configs/fashion_mnist_vgg16_garments.py).
Recorded run: results/fine_tuning/fashion_scenes_fcn8s_short/results.json.
"""

from cnnjax.train.config_files import sibling_config


def get_config():
  config = sibling_config(__file__, "fashion_scenes_fcn8s").unlock()
  config.model_kwargs.fc6_kernel = (1, 1)
  config.num_epochs = 1.0
  config.num_train_steps = 625
  config.checkpoint_every_steps = 250
  return config.lock()
