"""FCN-8s on the Fashion-MNIST scenes initialised from a Fashion-MNIST classifier (the lecture's FCN recipe).

    cnnjax train --config configs/fashion_mnist_vgg16_garments.py --workdir runs/fine_tuning/fashion_mnist_vgg16_garments
    cnnjax train --config configs/fashion_scenes_fcn8s_from_classifier.py \
        --workdir runs/fine_tuning/fashion_scenes_fcn8s_from_classifier

configs/fashion_scenes_fcn8s_short.py (same model, data, schedule and seed) with config.init_from = the
classifier's workdir, converted by classifier_to_fcn (cnnjax.weights.convolutionalize): its conv stages
and batch-norm statistics become FCN's backbone, its fc6/fc7 FCN's 1x1 fc6/fc7; its fc8 (10 garment
classes) does not fit score_fr (11 classes with the background) and is re-initialised, as are the skip
scores and upsamplings FCN adds. Recorded run: results/fine_tuning/fashion_scenes_fcn8s_from_classifier.
"""

from cnnjax.train.config_files import sibling_config

CLASSIFIER_WORKDIR = "runs/fine_tuning/fashion_mnist_vgg16_garments"


def get_config():
  config = sibling_config(__file__, "fashion_scenes_fcn8s_short").unlock()
  config.init_from = CLASSIFIER_WORKDIR
  config.init_from_convert = "classifier_to_fcn"
  return config.lock()
