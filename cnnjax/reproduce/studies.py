"""The published tables a study reproduces: rows of (config, published number, tolerance).

A Study names its dataset (checked before anything runs), its rows, the overrides a
`--quick` run applies, and the row whose first seed is run twice for the determinism check.
Rows name their config files inside the repository's configs/ folder, which `cnnjax reproduce`
reads at run time (`--configs`); the studies themselves need nothing outside cnnjax.
"""

import dataclasses
from typing import Any

from cnnjax.errors import InputError, unknown_name


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of a published table and the config that reproduces it.

  `config` is a file name in the configs folder (configs/ of the repository); `published` is in the
  study's metric (percent); `published_high` makes it a range.
  Ours is within tolerance when it lies in [published - tolerance, published_high + tolerance].
  """

  name: str
  label: str
  config: str
  published: float
  tolerance: float
  source: str
  published_high: float | None = None
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  full_only: bool = False

  def published_text(self) -> str:
    if self.published_high is None:
      return f"{self.published:.2f}"
    return f"{self.published:.2f}-{self.published_high:.2f}"

  def difference(self, ours: float) -> float:
    """Signed distance from ours to the published value or range (0 inside a range)."""
    high = self.published if self.published_high is None else self.published_high
    if ours < self.published:
      return ours - self.published
    return max(0.0, ours - high)


@dataclasses.dataclass(frozen=True)
class Study:
  """A reproduction: rows, the metric they are published in, and how `--quick` shortens them."""

  name: str
  title: str
  dataset: str
  reference: str
  rows: tuple[Row, ...]
  metric: str = "accuracy"            # "accuracy" or "error", in percent
  determinism_row: str = ""
  quick_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
  notes: str = ""

  def selected_rows(self, full: bool) -> tuple[Row, ...]:
    return tuple(r for r in self.rows if full or not r.full_only)

  def with_rows(self, names: list[str]) -> "Study":
    """The study narrowed to the named rows (any row, including --full ones), in the study's order."""
    known = [r.name for r in self.rows]
    unknown = [n for n in names if n not in known]
    if unknown:
      raise InputError(f"study {self.name!r} has no row(s) {', '.join(unknown)}; its rows: {', '.join(known)}")
    rows = tuple(dataclasses.replace(r, full_only=False) for r in self.rows if r.name in names)
    return dataclasses.replace(self, rows=rows)

  def measured(self, test_accuracy: float) -> float:
    """Our result in the study's metric, in percent."""
    return 100.0 * (test_accuracy if self.metric == "accuracy" else 1.0 - test_accuracy)


# A quick run: a few steps, evaluation only at the end, no intermediate checkpoints.
QUICK = {"num_train_steps": 20, "eval_every_epochs": 0.0, "log_every_steps": 5,
         "checkpoint_every_steps": 1000, "progress_bar": False}

MNIST1D = Study(
    name="mnist1d",
    title="MNIST-1D baselines (Greydanus 2020)",
    dataset="mnist1d",
    reference=("S. Greydanus, \"Scaling down deep learning\", arXiv:2011.14439 (2020): the benchmark test "
               "accuracies in the paper and in the README of github.com/greydanus/mnist1d, on the default MNIST-1D "
               "(4,000 train / 1,000 test signals of length 40)."),
    rows=(
        Row("linear", "Logistic regression", "mnist1d_linear.py", 32.0, 3.0, "Greydanus 2020"),
        Row("mlp", "MLP (40-100-100-10)", "mnist1d_mlp.py", 68.0, 3.0, "Greydanus 2020"),
        Row("cnn", "1-D CNN (3 conv, 25 channels)", "mnist1d_cnn.py", 94.0, 3.0, "Greydanus 2020"),
    ),
    determinism_row="cnn",
    quick_overrides=QUICK,
)

FASHION_MNIST = Study(
    name="fashion_mnist",
    title="Fashion-MNIST benchmark rows (Xiao et al. 2017)",
    dataset="fashion_mnist",
    reference=("H. Xiao, K. Rasul, R. Vollgraf, \"Fashion-MNIST\", arXiv:1708.07747 (2017), and the benchmark "
               "table of github.com/zalandoresearch/fashion-mnist (test accuracy, 60,000 train / 10,000 test)."),
    rows=(
        Row("linear", "Linear classifier (benchmark: LinearSVC)", "fashion_mnist_linear.py", 83.9, 1.5,
            "sklearn benchmark, LinearSVC"),
        Row("mlp", "MLP 784-256-128-10 (benchmark: MLPClassifier)", "fashion_mnist_mlp.py", 87.0, 1.5,
            "sklearn benchmark, MLPClassifier", published_high=90.0),
        Row("lenet5", "LeNet-5, 2 conv + 3 FC (benchmark: 2-conv CNNs)", "fashion_mnist_lenet5.py", 91.6,
            1.5, "benchmark table, 2 Conv+pooling (+BN) rows", published_high=92.5),
        Row("resnet20", "CIFAR-style ResNet-20 + flip/crop (benchmark: ResNet-18 + augmentation)",
            "fashion_mnist_resnet20.py", 94.9, 1.5,
            "benchmark table, ResNet18 with normalisation, flip and random crop", full_only=True),
        Row("vgg16", "VGG-16", "fashion_mnist_vgg16.py", 93.5, 1.5, "benchmark table, VGG16",
            full_only=True),
    ),
    determinism_row="linear",
    quick_overrides=QUICK,
    notes=("The default subset (linear, MLP, LeNet-5) is CPU-sized; `--full` adds the ResNet and VGG-16 rows, "
           "whose models come from the model zoo: registry name cifar_resnet20 with configs/fashion_mnist_resnet20.py "
           "(a smaller ResNet than the benchmark's ResNet-18), and vgg16 with configs/fashion_mnist_vgg16.py."),
)

_CIFAR_RECIPE = ("He et al. 2016 Sec. 4.2: SGD momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided by 10 "
                 "at 32k and 48k iterations, 64k iterations, 4-pixel pad + random crop + flip")

CIFAR10_RESNET = Study(
    name="cifar10_resnet",
    title="CIFAR-10 ResNets (He et al. 2016, Table 6)",
    dataset="cifar10",
    metric="error",
    reference=("K. He, X. Zhang, S. Ren, J. Sun, \"Deep Residual Learning for Image Recognition\", CVPR 2016, "
               "Table 6: CIFAR-10 test error (%). " + _CIFAR_RECIPE + "."),
    rows=tuple(
        Row(f"resnet{depth}", f"ResNet-{depth}", "cifar10_resnet20.py", error, 0.5, "He et al. 2016, Table 6",
            overrides={} if depth == 20 else {"model": f"cifar_resnet{depth}"})
        for depth, error in ((20, 8.75), (32, 7.51), (44, 7.17), (56, 6.97), (110, 6.43))),
    determinism_row="resnet20",
    # ResNets are slow on CPU: a quick run takes 4 small steps, enough to go through every stage once.
    quick_overrides=QUICK | {"num_train_steps": 4, "log_every_steps": 2, "batch_size": 32, "eval_batch_size": 128},
    notes=("All depths use configs/cifar10_resnet20.py (model cifar_resnet20) with `model` set to cifar_resnet32, "
           "44, 56 or 110 for the deeper rows. The paper "
           "gives the best of 5 runs for ResNet-110 (6.43%; mean 6.61 ± 0.16) and single numbers for the others; "
           "we report the mean over our seeds."),
)

STUDIES: dict[str, Study] = {s.name: s for s in (MNIST1D, FASHION_MNIST, CIFAR10_RESNET)}


def get_study(name: str) -> Study:
  """The study `name`; InputError with the closest names for an unknown one."""
  if name not in STUDIES:
    raise unknown_name("study", name, STUDIES)
  return STUDIES[name]
