"""Where datasets come from: the tfds builder, plus offline preparation for those we can serve.

`OFFLINE_PREPARERS` maps a tfds name to a function that fills the manual-download folder
from files present on this machine; every other dataset goes through tfds's own download.
"""

import os
from collections.abc import Callable
from pathlib import Path

import tensorflow_datasets as tfds

from cnnjax.data import fashion_mnist_archives

OFFLINE_PREPARERS: dict[str, Callable[[Path], bool]] = {
    "fashion_mnist": fashion_mnist_archives.prepare_manual_dir,
}

# Builders defined in cnnjax (not in the tfds catalogue), imported only when asked for.
def _fashion_scenes_builder():
  from cnnjax.data import fashion_scenes
  return fashion_scenes.FashionScenes


LOCAL_BUILDERS: dict[str, Callable[[], type]] = {
    "fashion_scenes": _fashion_scenes_builder,
}

HOW_TO_GET = {
    "fashion_mnist": (
        f"install the Debian package ({fashion_mnist_archives.DEBIAN_PACKAGE}: "
        "apt-get install -y dataset-fashion-mnist) or give this machine internet access"),
    "fashion_scenes": "it is composed from fashion_mnist; make fashion_mnist available (see above)",
}


class DatasetUnavailableError(RuntimeError):
  """The dataset is neither prepared nor obtainable here; the message says how to get it."""


def resolve_data_dir(data_dir: str | None) -> str:
  return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def get_builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """Returns a prepared tfds builder for `name`, preparing offline sources first when possible."""
  data_dir = resolve_data_dir(data_dir)
  try:
    if name in LOCAL_BUILDERS:
      builder = LOCAL_BUILDERS[name]()(data_dir=data_dir)
    else:
      builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DatasetUnavailableError(f"config.dataset.name={name!r} is not a tfds dataset: {e}") from e
  if builder.is_prepared():
    return builder
  manual_dir = Path(data_dir) / "downloads" / "manual"
  if name in OFFLINE_PREPARERS:
    OFFLINE_PREPARERS[name](manual_dir)
  try:
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  except Exception as e:  # tfds raises many types for network failures; all mean the same here.
    how = HOW_TO_GET.get(name, f"download it with tfds on a machine with internet and copy {data_dir}/{name}")
    raise DatasetUnavailableError(
        f"dataset {name!r} is not prepared in {data_dir} and could not be obtained ({type(e).__name__}: "
        f"{str(e)[:300]}). To get it: {how}; or point config.dataset.data_dir / $TFDS_DATA_DIR at a "
        "folder where it is prepared.") from e
  return builder
