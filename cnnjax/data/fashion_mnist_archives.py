"""Offline Fashion-MNIST: rebuild the byte-exact upstream archives from Debian's package.

Debian's `dataset-fashion-mnist` ships the original gzip streams with two header fields
stripped (FNAME flag/name and MTIME). Putting them back gives files whose sha256 matches
tfds's registered checksums, so a plain `tfds.load('fashion_mnist')` prepares them offline
from `$TFDS_DATA_DIR/downloads/manual/` with verification intact.
"""

import dataclasses
import hashlib
import os
import struct
from pathlib import Path

import importlib_resources

from cnnjax.errors import InputError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
# Upstream MTIME of each archive, the seconds since epoch written by the original gzip.
UPSTREAM_MTIME = {
    "train-images-idx3-ubyte.gz": 1504176606,
    "train-labels-idx1-ubyte.gz": 1504176606,
    "t10k-images-idx3-ubyte.gz": 1504176627,
    "t10k-labels-idx1-ubyte.gz": 1504176627,
}
_GZIP_MAGIC = b"\x1f\x8b"
_FNAME = 0x08


class ArchiveError(InputError):
  """An archive is missing, corrupted or altered: it is never used (the message says how to reinstall it)."""


@dataclasses.dataclass(frozen=True)
class ExpectedArchive:
  name: str
  size: int
  sha256: str


def registered_checksums() -> dict[str, ExpectedArchive]:
  """Sizes and sha256 that tfds registers for the upstream Fashion-MNIST archives."""
  text = (importlib_resources.files("tensorflow_datasets") / "url_checksums" / "fashion_mnist.txt").read_text()
  expected = {}
  for line in text.splitlines():
    if not line.strip():
      continue
    _, size, sha256, name = line.split("\t")
    expected[name] = ExpectedArchive(name, int(size), sha256)
  return expected


def restore_gzip_header(data: bytes, original_name: str, mtime: int) -> bytes:
  """Puts back the FNAME field and MTIME that Debian stripped; the deflate stream is untouched."""
  if data[:2] != _GZIP_MAGIC or len(data) < 10:
    raise ArchiveError(f"{original_name}.gz is not a gzip file")
  flags = data[3]
  if flags & _FNAME:
    return data
  header = data[:3] + bytes([flags | _FNAME]) + struct.pack("<I", mtime) + data[8:10]
  return header + original_name.encode("latin-1") + b"\x00" + data[10:]


def sha256_of(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def verify(name: str, data: bytes, expected: dict[str, ExpectedArchive], origin: str) -> None:
  want = expected[name]
  got = sha256_of(data)
  if len(data) != want.size or got != want.sha256:
    raise ArchiveError(
        f"{origin}: {name} has sha256 {got} and {len(data)} bytes, but tfds registers "
        f"{want.sha256} and {want.size} bytes. The file is corrupted or altered and will not be "
        f"used; reinstall it (apt-get install --reinstall {DEBIAN_PACKAGE}) or delete it and rerun.")


def prepare_manual_dir(manual_dir: str | os.PathLike, source_dir: str | os.PathLike = DEBIAN_DIR) -> bool:
  """Writes the four verified upstream archives into `manual_dir`.

  Returns False when neither `manual_dir` nor `source_dir` holds the archives (tfds may
  still download them). Raises ArchiveError on any checksum mismatch; a file already in
  `manual_dir` is never overwritten.
  """
  manual_dir, source_dir = Path(manual_dir), Path(source_dir)
  expected = registered_checksums()
  present = [name for name in expected if (manual_dir / name).exists()]
  for name in present:
    verify(name, (manual_dir / name).read_bytes(), expected, f"archive in {manual_dir}")
  missing = [name for name in expected if name not in present]
  if not missing:
    return True
  if not all((source_dir / name).exists() for name in missing):
    return False
  manual_dir.mkdir(parents=True, exist_ok=True)
  for name in missing:
    data = restore_gzip_header((source_dir / name).read_bytes(), name.removesuffix(".gz"), UPSTREAM_MTIME[name])
    verify(name, data, expected, f"rebuilt from {source_dir}")
    tmp = manual_dir / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.replace(manual_dir / name)
  return True
