"""Where datasets come from: the tfds builder, plus offline preparation for those we can serve.

`OFFLINE_PREPARERS` maps a tfds name to a function that fills the manual-download folder
from files present on this machine; `LOCAL_BUILDERS` are datasets generated here (no download).
Any other dataset that is not prepared fails at once with how to get it (no DNS timeout),
unless $CNNJAX_ALLOW_DOWNLOAD=1 lets tfds download it.
"""

import os
from collections.abc import Callable
from pathlib import Path

import tensorflow_datasets as tfds

from cnnjax.data import fashion_mnist_archives, mnist1d

OFFLINE_PREPARERS: dict[str, Callable[[Path], bool]] = {
    "fashion_mnist": fashion_mnist_archives.prepare_manual_dir,
}

LOCAL_BUILDERS: dict[str, type[tfds.core.DatasetBuilder]] = {
    "mnist1d": mnist1d.Mnist1d,
}

ALLOW_DOWNLOAD_ENV = "CNNJAX_ALLOW_DOWNLOAD"

HOW_TO_GET = {
    "fashion_mnist": (
        f"install the Debian package ({fashion_mnist_archives.DEBIAN_PACKAGE}: "
        "apt-get install -y dataset-fashion-mnist) or give this machine internet access"),
    "mnist1d": "it is generated locally by the mnist1d package: pip install mnist1d, then rerun",
}


class DatasetUnavailableError(RuntimeError):
  """The dataset is neither prepared nor obtainable here; the message says how to get it."""


def resolve_data_dir(data_dir: str | None) -> str:
  return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _how_to_get(name: str, data_dir: str) -> str:
  return HOW_TO_GET.get(name, f"run `tfds build {name} --data_dir {data_dir}` on a machine with internet "
                              f"(copy {data_dir}/{name} here if it is another machine)")


def downloads_allowed() -> bool:
  return os.environ.get(ALLOW_DOWNLOAD_ENV, "") not in ("", "0")


def get_builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """Returns a prepared tfds builder for `name`, preparing offline sources first when possible."""
  data_dir = resolve_data_dir(data_dir)
  try:
    builder = LOCAL_BUILDERS[name](data_dir=data_dir) if name in LOCAL_BUILDERS else tfds.builder(
        name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DatasetUnavailableError(f"config.dataset.name={name!r} is not a tfds dataset: {e}") from e
  if builder.is_prepared():
    return builder
  manual_dir = Path(data_dir) / "downloads" / "manual"
  # tfds.testing.mock_data moves builders into its own folder and serves fake examples: nothing to fetch.
  mocked = not Path(os.path.abspath(builder.data_dir)).is_relative_to(os.path.abspath(data_dir))
  offline = mocked or name in LOCAL_BUILDERS or (name in OFFLINE_PREPARERS and OFFLINE_PREPARERS[name](manual_dir))
  if not (offline or downloads_allowed()):
    raise DatasetUnavailableError(
        f"dataset {name!r} is not prepared in {data_dir} and cannot be made offline. To get it: "
        f"{_how_to_get(name, data_dir)}; or set {ALLOW_DOWNLOAD_ENV}=1 to let tfds download it now; or point "
        "config.dataset.data_dir / $TFDS_DATA_DIR at a folder where it is prepared.")
  try:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  except Exception as e:  # tfds raises many types for network failures; all mean the same here.
    how = _how_to_get(name, data_dir)
    raise DatasetUnavailableError(
        f"dataset {name!r} is not prepared in {data_dir} and could not be obtained ({type(e).__name__}: "
        f"{str(e)[:300]}). To get it: {how}; or point config.dataset.data_dir / $TFDS_DATA_DIR at a "
        "folder where it is prepared.") from e
  return builder
