"""Training: state, pure steps, optimizers and schedules, checkpoints, logging and the runner.

Import `cnnjax.train.runner.train_and_evaluate` to run an experiment from a config.
"""
