"""Input pipelines: tfds sources (with offline preparation), tf.data batching and augmentation.

`make_train_iterator` and `make_eval_iterator` are the runner's entry points; see pipeline.py.
"""
