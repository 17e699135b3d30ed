"""Every bad input is refused the same way: exit status 2, one line on stderr naming the field or file, no
traceback, and nothing written (no workdir, checkpoint, metrics or overlay).

CASES is the catalogue: docs/bad_inputs.md's table is generated from it,

    PYTHONPATH=. .venv/bin/python -m tests.commands.test_bad_inputs

and the tests fail when the table and what the code prints drift apart. Each case runs in-process
(cnnjax.main.main) in a sandbox folder, so messages hold the same relative paths everywhere; every
case is refused before JAX compiles anything.
"""

import contextlib
import dataclasses
import io
import os
import re
import shlex
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from cnnjax import main
from cnnjax.errors import InputError

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "bad_inputs.md"
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"


@dataclasses.dataclass(frozen=True)
class Case:
  argv: tuple[str, ...]  # after `cnnjax`
  names: str             # the field or file the message must name

  @property
  def command(self) -> str:
    return shlex.join(["cnnjax", *self.argv])


def _train(*extra: str, config: str = "configs/fashion_mnist_lenet5.py", workdir: str | None = "run") -> Case:
  argv = ("train", "--config", config) + (("--workdir", workdir) if workdir else ()) + extra
  return Case(argv, extra[0].split("=")[0].lstrip("-") if extra else config)


def _segment(*argv: str, names: str) -> Case:
  return Case(("segment", *argv), names)


CASES = [
    _train("--config.optimizer.learning_rate=-0.1"),
    _train("--config.batch_size=-5"),
    _train("--config.batch_size=0"),
    _train("--config.eval_batch_size=0"),
    _train("--config.dataset.num_classes=0"),
    _train("--config.aux_loss_weight=-0.3"),
    _train("--config.label_smoothing=1.5"),
    _train("--config.ema_decay=-0.1"),
    _train("--config.eval_flip_tta=True", config="configs/fashion_scenes_fcn8s.py"),
    _train("--config.dataset.eval_crop_fraction=1.5"),
    _train("--config.dataset.eval_crop_fraction=0.875"),
    _train("--config.log_every_steps=0"),
    _train("--config.checkpoint_every_steps=0"),
    _train("--config.keep_checkpoints=0"),
    _train("--config.resume_from_step=-2"),
    _train("--config.optimizer.momentum=1.0"),
    _train("--config.optimizer.weight_decay=-0.0001"),
    _train("--config.num_epochs=0"),
    _train("--config.eval_every_epochs=-1"),
    _train("--config.schedule.warmup_epochs=-1"),
    _train("--config.dataset.std=(0.0,)"),
    _train("--config.dataset.random_resized_crop=True"),
    _train("--config.dataset.max_objects=0"),
    _train("--config.dataset.objects_key=objects", "--config.dataset.image_size=64",
           "--config.dataset.random_resized_crop=True"),
    _train("--config.augment.crop", "--config.dataset.objects_key=objects"),
    _train("--config.task=detection"),
    _train("--config.detection.method=yolo", "--config.task=detection", "--config.dataset.objects_key=objects"),
    _train("--config.dataset.proposals=fastest"),
    _train("--config.dataset.proposals=", config="configs/fashion_scenes_rcnn.py"),
    _train("--config.augment.flip", config="configs/fashion_scenes_rcnn.py"),
    _train("--config.detection.max_detections=0"),
    _train("--config.model=lenet6"),
    _train("--config.task=classify"),
    _train("--config.dataset.name=fashion_mnst"),
    _train("--config.schedule.name=cosin"),
    _train("--config.optimizer.weight_decay_mode=l3"),
    _train("--config.batch_norm_stats=per-device"),
    _train("--config.batch_sise=64"),
    _train("--config.init_from=runs/no_such_run"),
    _train("--config.init_from_convert=classifier_to_fcm"),
    _train("--config.freeze=('^backbone/',)"),
    _train("--config.freeze=('conv[',)"),
    _train("--config.batch_size=abc"),
    _train(config="configs/missing.py"),
    _train(config="syntax_error.py"),
    _train(config="name_error.py"),
    _train(config="no_get_config.py"),
    Case(_train(config="augment_typo.py").argv, "config.augment"),
    Case(_train(config="model_kwargs_typo.py").argv, "config.model_kwargs"),
    Case(_train(workdir=None).argv, "--workdir"),
    Case(("train", "--workdir", "run"), "--config"),
    Case(_train(workdir="a_file").argv, "a_file"),
    Case(_train(workdir="a_file/run").argv, "a_file"),
    Case(_train(workdir="/proc/cnnjax_run").argv, "/proc/cnnjax_run"),
    _segment("text.png", "--method", "slic", names="text.png"),
    _segment("missing.png", "--method", "slic", names="missing.png"),
    _segment("truncated.png", "--method", "slic", names="truncated.png"),
    _segment("grey16.png", "--method", "slic", names="grey16.png"),
    _segment("rgb16.png", "--method", "slic", names="rgb16.png"),
    _segment("large.png", "--method", "slic", names="large.png"),
    _segment("huge.png", "--method", "slic", names="huge.png"),
    _segment("photo.png", "--method", "slic", "--out", "no_folder/overlay.png", names="no_folder"),
    _segment("photo.png", "--method", "slic", "--out", ".", names="--out"),
    _segment("photo.png", "--method", "slic", "--out", "overlay", names="--out overlay"),
    _segment("photo.png", "--method", "slick", names="--method"),
    _segment("photo.png", "--method", "meanshift", "--kernel", "gauss", names="--kernel"),
    _segment("photo.png", "--method", "meanshift", "--bandwidth", "0", names="--bandwidth"),
    _segment("photo.png", "--method", "kmeans", "--k", "0", names="--k"),
    _segment("photo.png", "--method", "slic", "--max_side", "0", names="--max_side"),
    _segment("pixel.png", "--method", "kmeans", names="--k"),
    _segment("pixel.png", "--method", "slic", names="--n_segments"),
    _segment("photo.png", names="--method"),
    _segment("photo.png", "--workdir", "run", names="--workdir run"),
    Case(("proposals", "missing.png"), "missing.png"),
    Case(("proposals", "text.png"), "text.png"),
    Case(("proposals", "truncated.png"), "truncated.png"),
    Case(("proposals", "photo.png", "--mode", "fastest"), "--mode"),
    Case(("proposals", "photo.png", "--top", "0"), "--top"),
    Case(("proposals", "photo.png", "--out", "no_folder/proposals.png"), "no_folder"),
    Case(("detect", "missing.png", "--workdir", "run"), "missing.png"),
    Case(("detect", "photo.png", "--workdir", "run"), "--workdir run"),
    Case(("detect", "photo.png", "--workdir", "run", "--out", "no_folder/detections.png"), "no_folder"),
    Case(("detect", "photo.png", "--workdir", "run", "--score_threshold", "-1"), "--score_threshold"),
    Case(("detect", "photo.png"), "--workdir"),
    Case(("explain", "photo.png", "--workdir", "run", "--method", "gradcm"), "--method"),
    Case(("explain", "photo.png", "--workdir", "run", "--class_index", "-1"), "--class_index"),
    Case(("explain", "photo.png", "--method", "saliency"), "--workdir"),
    Case(("explain", "photo.png", "--workdir", "run", "--out", "no_folder/heat.png"), "no_folder"),
    Case(("explain", "photo.png", "--workdir", "run"), "--workdir run"),
    Case(("scale", "--model", "lenet5", "--input_shape", "28,28,1", "--devices", "0"), "--devices"),
    Case(("scale", "--model", "lenet5", "--input_shape", "28,28,1", "--devices", "1,x"), "--devices"),
    Case(("scale", "--model", "lenet5", "--input_shape", "28,28,1", "--steps", "0"), "--steps"),
    Case(("scale", "--model", "lenet5", "--input_shape", "28,28"), "--input_shape"),
    Case(("scale", "--model", "lenet", "--input_shape", "28,28,1"), "--model"),
    Case(("scale", "--model", "lenet5", "--input_shape", "28,28,1", "--out", "a_file"), "--out a_file"),
    Case(("scale", "--model", "lenet5"), "--input_shape"),
    Case(("summary", "lenet", "--depth", "1"), "model='lenet'"),
    Case(("summary", "lenet5", "--num_classes", "0"), "--num_classes"),
    Case(("summary", "logistic_neuron", "--num_classes", "3"), "--num_classes"),
    Case(("summary", "vgg11", "--input_shape", "16,16,3"), "--input_shape 16,16,3"),
    Case(("summary", "unet", "--input_shape", "100,100,1"), "--input_shape 100,100,1"),
    Case(("summary", "mnist1d_cnn", "--input_shape", "28,28,1"), "--input_shape"),
    Case(("summary", "lenet5", "--input_shape", "0"), "--input_shape"),
    Case(("summary", "googlenet", "--kwarg", "branch3_kernal=5"), "branch3_kernal"),
    Case(("summary", "googlenet", "--kwarg", "branch3_kernel=five"), "branch3_kernel=five"),
    Case(("summary", "resnet50", "--kwarg", "variant"), "--kwarg"),
    Case(("summary", "resnet50", "--kwarg", "variant=v2"), "variant=v2"),
    Case(("summary", "resnet50", "--kwarg", "block=Bottleneck"), "--kwarg block"),
    Case(("lecture", "--record", "tricks"), "--record"),
    Case(("reproduce", "mnist1d", "--seeds", "0"), "--seeds"),
    Case(("reproduce", "mnist_1d"), "study='mnist_1d'"),
    Case(("reproduce", "fashion_mnist", "--rows", "linear,resnet50"), "resnet50"),
    Case(("reproduce", "mnist1d", "--configs", "no_configs"), "mnist1d_linear.py"),
    Case(("trian",), "trian"),
    # model and augmentation options, presets (`--config FILE:PRESET`)
    _train("--config.model_kwargs.dtpe=bfloat16"),
    _train("--config.model_kwargs.dtype=bf16"),
    _train("--config.model_kwargs.conv=Conv"),
    _train("--config.augment.flipp"),
    _train("--config.augment.crop.pading=4"),
    _train("--config.augment.crop.padding=4.5"),
    Case(_train(config="configs/fashion_mnist_lenet5.py:wide").argv, "configs/fashion_mnist_lenet5.py"),
    _train(config="configs/cifar10_resnet20.py:resnet57"),
    Case(_train(config="broken_preset.py:wide").argv, "broken_preset.py"),
    # weights directories: convert, predict, export
    Case(("convert", "--from", "torchvision", "--model", "resnet18", "--weights", "missing.pth", "--out", "w"),
         "missing.pth"),
    Case(("convert", "--from", "torchvison", "--model", "resnet18", "--weights", "missing.pth", "--out", "w"),
         "--from"),
    Case(("convert", "--from", "torchvision", "--model", "resnet18", "--weights", "text.png", "--out", "a_file"),
         "--out a_file"),
    Case(("predict", "text.png", "--weights", "corrupt_weights"), "text.png"),
    Case(("predict", "photo.png", "--weights", "missing_weights"), "missing_weights"),
    Case(("predict", "photo.png", "--weights", "corrupt_weights"), "corrupt_weights/weights.json"),
    Case(("predict", "photo.png"), "--weights"),
    Case(("predict", "photo.png", "--weights", "corrupt_weights", "--top", "0"), "--top"),
    Case(("export", "--weights", "corrupt_weights", "--format", "stablehlo", "--out", "e"),
         "corrupt_weights/weights.json"),
    Case(("export", "--weights", "corrupt_weights", "--format", "onnx", "--out", "e"), "--format"),
    Case(("export", "--weights", "corrupt_weights", "--format", "savedmodel", "--out", "a_file"), "--out a_file"),
]

CONFIG_FILES = {
    "syntax_error.py": "def get_config(:\n  pass\n",
    "name_error.py": "def get_config():\n  return undefined_config_maker()\n",
    "no_get_config.py": "config = None\n",
    "augment_typo.py": ("from configs.fashion_mnist_lenet5 import get_config as base\n\n\ndef get_config():\n"
                        "  config = base()\n  config.unlock()\n  config.augment.flipp = {}\n  return config.lock()\n"),
    "broken_preset.py": ("from configs.fashion_mnist_lenet5 import get_config as base\n\n\n"
                         "def get_config(preset=None):\n  return base().lock() + preset\n"),
    "model_kwargs_typo.py": ("from configs.fashion_mnist_lenet5 import get_config as base\n\n\ndef get_config():\n"
                             "  config = base()\n  config.unlock()\n  config.model_kwargs.activations = 'relu'\n"
                             "  return config.lock()\n"),
}


def write_png(path: Path, pixels: np.ndarray, bits: int = 8, size: tuple[int, int] | None = None, data: bool = True):
  """Writes a PNG by hand (PIL cannot write 16-bit colour); `size` (H, W) with data=False gives a header only."""
  height, width = size or pixels.shape[:2]
  colour_type = 2 if pixels.ndim == 3 else 0
  rows = b"".join(b"\0" + row.astype(">u2" if bits == 16 else "u1").tobytes()
                  for row in pixels.reshape(pixels.shape[0], -1))

  def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

  header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0))
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + (chunk(b"IDAT", zlib.compress(rows)) if data else b"")
                   + chunk(b"IEND", b""))


def make_sandbox(folder: Path) -> Path:
  """The files the cases refer to, in `folder` (which becomes the working directory)."""
  from PIL import Image
  (folder / "configs").symlink_to(REPO / "configs")
  for name, text in CONFIG_FILES.items():
    (folder / name).write_text(text)
  (folder / "a_file").write_text("not a folder\n")
  (folder / "no_configs").mkdir()
  (folder / "corrupt_weights").mkdir()
  (folder / "corrupt_weights" / "weights.json").write_text("{not json\n")
  (folder / "text.png").write_text("not a picture\n")
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / "photo.png")
  Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(folder / "pixel.png")
  write_png(folder / "grey16.png", rng.integers(0, 65536, (8, 8)), bits=16)
  write_png(folder / "rgb16.png", rng.integers(0, 65536, (8, 8, 3)), bits=16)
  write_png(folder / "truncated.png", np.zeros((1, 1), np.uint8), size=(64, 64))
  write_png(folder / "large.png", np.zeros((1, 1), np.uint8), size=(8000, 12000), data=False)
  write_png(folder / "huge.png", np.zeros((1, 1), np.uint8), size=(20000, 20000), data=False)
  return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
  """Every file and folder under `folder` (links not followed, Python's __pycache__ left out): size, mtime."""
  found = {}
  for root, dirs, files in os.walk(folder):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    for name in dirs + files:
      path = Path(root) / name
      stat = path.lstat()
      found[str(path.relative_to(folder))] = (0, 0) if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
  return found


def _past_validation(*args, **kwargs):
  raise AssertionError("a bad input got past validation")


def run_case(case: Case) -> tuple[int, str, str]:
  """(exit status, stderr, stdout) of `cnnjax ARGV` run in-process in the current directory.

  The first step of real work in each command fails the case at once, so a check that stops
  working can never start a training, a segmentation, a scaling study or a reproduction here.
  """
  from unittest import mock
  err, out = io.StringIO(), io.StringIO()
  with contextlib.ExitStack() as stack:
    for target in ("cnnjax.parallel.distributed.initialize", "cnnjax.commands.segment.segment_classical",
                   "cnnjax.commands.segment.predict", "cnnjax.commands.scale.probe_backend",
                   "cnnjax.reproduce.runs.run_study", "cnnjax.serving.load.load_served",
                   "cnnjax.weights.convert.from_torch", "cnnjax.segmentation.selective_search.selective_search"):
      stack.enter_context(mock.patch(target, _past_validation))
    stack.enter_context(contextlib.redirect_stderr(err))
    stack.enter_context(contextlib.redirect_stdout(out))
    code = main.main(["cnnjax", *case.argv])
  return code, err.getvalue(), out.getvalue()


def render_table(messages: list[str]) -> str:
  lines = ["| # | input | message on stderr (exit status 2) |", "|---:|---|---|"]
  for i, (case, message) in enumerate(zip(CASES, messages), 1):
    lines.append(f"| {i} | `{case.command}` | {message.replace('|', chr(92) + '|')} |")
  return "\n".join(lines)


def documented_messages() -> dict[str, str]:
  """command -> message, from docs/bad_inputs.md's generated table."""
  text = DOC.read_text()
  table = text[text.index(START) + len(START):text.index(END)]
  rows = [re.match(r"^\| \d+ \| `(.*?)` \| (.*) \|$", line) for line in table.strip().splitlines()[2:]]
  return {row.group(1): row.group(2).replace(chr(92) + "|", "|") for row in rows}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
  return make_sandbox(tmp_path_factory.mktemp("bad_inputs"))


@pytest.fixture
def in_sandbox(sandbox, monkeypatch):
  monkeypatch.chdir(sandbox)
  monkeypatch.syspath_prepend(str(sandbox))  # the config files import configs.fashion_mnist_lenet5
  return sandbox


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c.argv)[:80] for c in CASES])
def test_bad_input_is_refused_in_one_line(case, in_sandbox):
  before = snapshot(in_sandbox)
  code, err, out = run_case(case)
  assert code == 2, err
  assert len(err.splitlines()) == 1 and "Traceback" not in err, err
  message = err.strip()
  assert message.startswith(f"cnnjax{' ' + case.argv[0] if case.argv[0] in main.SUBCOMMANDS else ''}: ")
  assert case.names in message
  assert out == ""
  assert snapshot(in_sandbox) == before  # nothing written: no workdir, checkpoint, metrics or overlay
  assert documented_messages()[case.command] == message, "docs/bad_inputs.md is stale: regenerate it (see top)"


def test_catalogue_lists_every_case_once():
  assert list(documented_messages()) == [case.command for case in CASES]
  assert len(CASES) >= 30


def test_debug_shows_the_traceback(in_sandbox):
  with pytest.raises(InputError, match="config.batch_size=0"):
    main.main(["cnnjax", "--debug", "train", "--config", "configs/fashion_mnist_lenet5.py", "--workdir", "run",
               "--config.batch_size=0"])
  with pytest.raises(InputError, match="text.png"):
    main.main(["cnnjax", "segment", "text.png", "--method", "slic", "--debug"])


@pytest.mark.parametrize("argv", [("train", "--config", "configs/fashion_mnist_lenet5.py", "--workdir", "run",
                                   "--config.batch_size=0"), ("segment", "text.png", "--method", "slic")],
                         ids=["train", "segment"])
def test_the_program_prints_one_line(argv, in_sandbox):
  """The real command (its own process, as a user runs it): one line, exit 2, no traceback."""
  result = subprocess.run([sys.executable, "-m", "cnnjax.main", *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
  assert result.returncode == 2
  assert result.stderr.strip() == documented_messages()[shlex.join(["cnnjax", *argv])]


def test_a_batch_that_does_not_split_over_the_devices(run_with_devices, tmp_path):
  """Checked by `cnnjax train` itself before the runner starts (the catalogue runs on one device)."""
  out = run_with_devices(f"""
      import contextlib, io
      from cnnjax import main
      err = io.StringIO()
      with contextlib.redirect_stderr(err):
        code = main.main(["cnnjax", "train", "--config", "configs/fashion_mnist_lenet5.py", "--workdir",
                          {str(tmp_path / "run")!r}, "--config.batch_size=6"])
      print(code, err.getvalue(), end="")
      """, devices=4)
  assert out == ("2 cnnjax train: config.batch_size=6 does not divide over 4 devices in 1 processes; "
                 "use a multiple of 4\n")
  assert not (tmp_path / "run").exists()


def test_device_counts_beyond_an_accelerators_are_refused(tmp_path, monkeypatch, capsys):
  """On a GPU or TPU `cnnjax scale --devices` must lie in 1..present; nothing is measured or written."""
  from cnnjax.commands import scale
  monkeypatch.setattr(scale, "probe_backend", lambda: {"backend": "gpu", "device_count": 1, "device_kind": "H200"})
  monkeypatch.setattr(scale, "run_point", _past_validation)
  out = tmp_path / "study"
  code = main.main(["cnnjax", "scale", "--model", "lenet5", "--input_shape", "28,28,1", "--devices", "1,2",
                    "--out", str(out)])
  assert code == 2
  assert capsys.readouterr().err == ("cnnjax scale: --devices 1,2: only 1 H200 device(s) are present; use counts "
                                     "from 1 to 1\n")
  assert not out.exists()


def write_catalogue() -> None:
  """Runs every case in a fresh sandbox and rewrites the table in docs/bad_inputs.md."""
  import tempfile
  with tempfile.TemporaryDirectory() as folder:
    cwd = os.getcwd()
    os.chdir(make_sandbox(Path(folder)))
    sys.path.insert(0, folder)
    try:
      messages = [run_case(case)[1].strip() for case in CASES]
    finally:
      os.chdir(cwd)
      sys.path.remove(folder)
  text = DOC.read_text()
  DOC.write_text(text[:text.index(START) + len(START)] + "\n" + render_table(messages) + "\n" + text[text.index(END):])
  print(f"{DOC}: {len(messages)} rows")


if __name__ == "__main__":
  write_catalogue()
