"""Input pipelines: tfds sources (with offline preparation), tf.data batching and augmentation.

`make_train_data` and `make_eval_iterator` are the runner's entry points; see pipeline.py. The
dataset "synthetic" (synthetic.py: random numpy draws, no tfds) serves timing and smoke runs.
"""
