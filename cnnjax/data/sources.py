"""Where datasets come from: the tfds builder, plus offline preparation for those we can serve.

`OFFLINE_PREPARERS` maps a tfds name to a function that fills the manual-download folder
from files present on this machine; `LOCAL_BUILDERS` are datasets generated here (no download).
Any other dataset is downloaded by tfds when the internet answers, and otherwise fails at
once with how to get it (no wait through tfds's retries).
"""

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import tensorflow_datasets as tfds

from cnnjax.data import fashion_mnist_archives, synthetic
from cnnjax.errors import InputError

OFFLINE_PREPARERS: dict[str, Callable[[Path], bool]] = {
    "fashion_mnist": fashion_mnist_archives.prepare_manual_dir,
}

# Builders defined in cnnjax (not in the tfds catalogue), imported only when asked for.
def _mnist1d_builder():
  from cnnjax.data import mnist1d
  return mnist1d.Mnist1d


def _fashion_scenes_builder():
  from cnnjax.data import fashion_scenes
  return fashion_scenes.FashionScenes


LOCAL_BUILDERS: dict[str, Callable[[], type]] = {
    "mnist1d": _mnist1d_builder,
    "fashion_scenes": _fashion_scenes_builder,
}

HOW_TO_GET = {
    "fashion_mnist": (
        f"install the Debian package ({fashion_mnist_archives.DEBIAN_PACKAGE}: "
        "apt-get install -y dataset-fashion-mnist) or give this machine internet access"),
    "mnist1d": "it is generated locally by the mnist1d package: pip install mnist1d, then rerun",
    "fashion_scenes": "it is composed from fashion_mnist; make fashion_mnist available (see above)",
}

OFFLINE_ENV = "CNNJAX_OFFLINE"


class DatasetUnavailableError(InputError):
  """The dataset is neither prepared nor obtainable here; the message says how to get it."""


def known_datasets() -> list[str]:
  """Names config.dataset.name may take: those get_builder can build (tfds's registered datasets and
  cnnjax's own, LOCAL_BUILDERS) and "synthetic" (cnnjax.data.synthetic, served without a builder)."""
  return sorted({*tfds.list_builders(with_community_datasets=False), *LOCAL_BUILDERS, synthetic.NAME})


def resolve_data_dir(data_dir: str | None) -> str:
  return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _how_to_get(name: str, data_dir: str) -> str:
  return HOW_TO_GET.get(name, f"run `tfds build {name} --data_dir {data_dir}` on a machine with internet "
                              f"(copy {data_dir}/{name} here if it is another machine)")


def downloads_possible(host: str = "storage.googleapis.com", timeout: float = 5.0) -> bool:
  """Whether tfds may try to download: DNS resolves a public host within `timeout` seconds.

  Without this check a machine with no internet waits through tfds's retries for minutes
  before failing; $CNNJAX_OFFLINE=1 skips downloads outright.
  """
  if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
    return False
  resolved = []

  def resolve():
    try:
      resolved.append(bool(socket.getaddrinfo(host, 443)))
    except OSError:
      resolved.append(False)

  thread = threading.Thread(target=resolve, daemon=True)
  thread.start()
  thread.join(timeout)
  return bool(resolved and resolved[0])


def _local_builder(name: str, data_dir: str) -> tfds.core.DatasetBuilder | None:
  """The LOCAL_BUILDERS builder for "name[/config][:version]" (as tfds.builder reads it), or None."""
  base, _, version = name.partition(":")
  base, _, config = base.partition("/")
  if base not in LOCAL_BUILDERS:
    return None
  kwargs = {"config": config} if config else {}
  try:
    return LOCAL_BUILDERS[base]()(data_dir=data_dir, version=version or None, **kwargs)
  except (ValueError, AssertionError) as e:  # tfds's answers to an unknown config or version
    raise DatasetUnavailableError(f"config.dataset.name={name!r}: {str(e).splitlines()[0]}") from e


def get_builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """Returns a prepared tfds builder for `name` ("name[/config][:version]"), preparing offline sources first when
  possible."""
  data_dir = resolve_data_dir(data_dir)
  try:
    builder = _local_builder(name, data_dir)
    if builder is None:
      builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise DatasetUnavailableError(f"config.dataset.name={name!r} is not a tfds dataset: {e}") from e
  if builder.is_prepared():
    return builder
  manual_dir = Path(data_dir) / "downloads" / "manual"
  # tfds.testing.mock_data moves builders into its own folder and serves fake examples: nothing to fetch.
  mocked = not Path(os.path.abspath(builder.data_dir)).is_relative_to(os.path.abspath(data_dir))
  local = builder.name in LOCAL_BUILDERS
  offline = mocked or local or (name in OFFLINE_PREPARERS and OFFLINE_PREPARERS[name](manual_dir))
  if not (offline or downloads_possible()):
    raise DatasetUnavailableError(
        f"dataset {name!r} is not prepared in {data_dir}, cannot be made offline and this machine cannot "
        f"download it (no internet, or {OFFLINE_ENV}=1). To get it: {_how_to_get(name, data_dir)}; or point "
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
