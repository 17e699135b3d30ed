"""Fashion-MNIST speedrun: the least wall-clock time to 94% test accuracy on the 2-core CPU (issue #20).

    cnnjax train --config configs/fashion_mnist_speedrun.py --workdir runs/fashion_mnist_speedrun
    PYTHONPATH=. python experiments/speedrun/run_seeds.py --seeds 0,1,2,3,4 --ablate label_smoothing,ema,tta

The recipe (airbench's levers on configs/fashion_mnist_resnet20.py, which reached 93.69% in 15 epochs):
CIFAR ResNet-20 at full resolution (stride-1 stem), random flip + 2-pixel pad-and-crop, SGD with Nesterov
momentum 0.9 and L2 weight decay 5e-4, batch 128, a triangular one-cycle schedule (linear warmup to 0.2 over
0.5 epochs, linear decay to 0 at the end), label smoothing 0.1, an EMA of the weights (decay 0.999 with
TensorFlow's warm-up min(0.999, (1 + n) / (10 + n)), so it averages about the last tenth of the run) that is
what gets evaluated, and flip test-time augmentation (logits of the image and its mirror averaged). Evaluation
only at the end: a per-epoch evaluation costs wall time.
The epoch count is the lever left to the seed study: see results/speedrun/README.md once recorded
(experiments/speedrun/run_seeds.py) and the exploratory runs named in the speedrun branch's report.
"""

from cnnjax.train.config import default_config


def get_config():
  config = default_config()
  config.model = "cifar_resnet20"
  config.model_kwargs.stem_stride = 1
  config.num_epochs = 8.0
  config.batch_size = 128
  config.optimizer.learning_rate = 0.2
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4
  config.schedule.name = "linear"
  config.schedule.warmup_epochs = 0.5
  config.augment = {"flip": {}, "crop": {"padding": 2}}
  config.label_smoothing = 0.1
  config.ema_decay = 0.999
  config.eval_flip_tta = True
  config.eval_every_epochs = 0.0
  config.log_every_steps = 50
  config.checkpoint_every_steps = 100000  # the run's end only: a speedrun pays for no intermediate saves
  config.progress_bar = False
  config.xla_cpu_multi_output_fusion = True  # faster CPU steps for this narrow net (benchmarks/cpu_step.py)
  return config.lock()
