"""Offline Fashion-MNIST: byte-exact rebuilding from Debian's archives, checksums, refusal of bad files."""

import gzip
import hashlib
import io
import shutil

import pytest

from cnnjax.data import fashion_mnist_archives as fm

needs_debian = pytest.mark.skipif(not all((fm.DEBIAN_DIR / n).exists() for n in fm.UPSTREAM_MTIME),
                                  reason="Debian package dataset-fashion-mnist not installed")


def _debian_style(upstream: bytes) -> bytes:
  """What Debian's packaging did: clear the FNAME flag and MTIME and drop the stored name."""
  name_end = upstream.index(b"\x00", 10)
  return upstream[:3] + bytes([upstream[3] & ~0x08]) + b"\x00\x00\x00\x00" + upstream[8:10] + upstream[name_end + 1:]


def test_restore_gzip_header_gives_back_the_original_bytes():
  buffer = io.BytesIO()
  with gzip.GzipFile(filename="train-labels-idx1-ubyte", mode="wb", fileobj=buffer, mtime=1504176606) as f:
    f.write(bytes(range(256)) * 10)
  upstream = buffer.getvalue()
  stripped = _debian_style(upstream)
  assert stripped != upstream
  assert fm.restore_gzip_header(stripped, "train-labels-idx1-ubyte", 1504176606) == upstream
  assert gzip.decompress(stripped) == gzip.decompress(upstream)


def test_registered_checksums_are_tfds_own():
  expected = fm.registered_checksums()
  assert set(expected) == set(fm.UPSTREAM_MTIME)
  assert expected["train-labels-idx1-ubyte.gz"].sha256 == (
      "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845")
  assert expected["train-images-idx3-ubyte.gz"].size == 26421880


@needs_debian
def test_rebuilt_archives_match_tfds_checksums(tmp_path):
  assert fm.prepare_manual_dir(tmp_path / "manual")
  for name, want in fm.registered_checksums().items():
    data = (tmp_path / "manual" / name).read_bytes()
    assert len(data) == want.size
    assert hashlib.sha256(data).hexdigest() == want.sha256


@needs_debian
def test_corrupted_source_archive_is_refused(tmp_path):
  source = tmp_path / "debian"
  shutil.copytree(fm.DEBIAN_DIR, source)
  labels = source / "t10k-labels-idx1-ubyte.gz"
  data = bytearray(labels.read_bytes())
  data[100] ^= 0xFF
  labels.write_bytes(bytes(data))
  with pytest.raises(fm.ArchiveError, match="t10k-labels-idx1-ubyte.gz.*corrupted or altered"):
    fm.prepare_manual_dir(tmp_path / "manual", source)
  assert not (tmp_path / "manual" / "t10k-labels-idx1-ubyte.gz").exists()


@needs_debian
def test_corrupted_file_in_manual_dir_is_refused_and_kept(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  bad = manual / "train-labels-idx1-ubyte.gz"
  bad.write_bytes(b"not the archive")
  with pytest.raises(fm.ArchiveError, match="train-labels-idx1-ubyte.gz"):
    fm.prepare_manual_dir(manual)
  assert bad.read_bytes() == b"not the archive"


def test_missing_sources_report_false(tmp_path):
  assert fm.prepare_manual_dir(tmp_path / "manual", tmp_path / "nowhere") is False
