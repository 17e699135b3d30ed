"""Importing torchvision (and timm, which imports it) with the CPU build of torch.

Why: the package index's torchvision wheel is built against CUDA torch. With the CPU torch its C++
operators (torchvision::nms, roi_align, ...) are not registered, and `import torchvision` fails at
`torch.library.register_fake("torchvision::nms")`. While torchvision is imported, a fake
(meta) registration for an operator that does not exist is skipped; everything else registers as
usual. Models and transforms are pure Python and work; the skipped operators stay unavailable.
This is the one place that knows the quirk: tests and converters call `import_torchvision()`.
"""

import contextlib
import importlib
import types

from cnnjax.errors import InputError

_MISSING_OPERATOR = "does not exist"


def _skipping_missing_operators(register_fake):
  """register_fake that skips the registration of a fake for an operator torch does not have."""

  def safe_register_fake(op, func=None, /, **kwargs):
    def register(fn):
      try:
        return register_fake(op, fn, **kwargs)
      except RuntimeError as error:
        if _MISSING_OPERATOR in str(error):
          return fn
        raise
    return register if func is None else register(func)

  return safe_register_fake


@contextlib.contextmanager
def _patched_register_fake(torch):
  original = torch.library.register_fake
  torch.library.register_fake = _skipping_missing_operators(original)
  try:
    yield
  finally:
    torch.library.register_fake = original


def import_torch() -> types.ModuleType:
  """torch, or an InputError saying how to install it (it is an optional dependency of cnnjax)."""
  try:
    return importlib.import_module("torch")
  except ImportError:
    raise InputError("reading PyTorch weights needs torch: pip install 'cnnjax[torch]' "
                     "(or pip install torch)") from None


def import_torchvision() -> types.ModuleType:
  """torchvision, importable with the CPU torch (see the module docstring)."""
  torch = import_torch()
  with _patched_register_fake(torch):
    try:
      return importlib.import_module("torchvision")
    except ImportError:
      raise InputError("this needs torchvision: pip install 'cnnjax[torch]' (or pip install torchvision)") from None


def import_timm() -> types.ModuleType:
  """timm (it imports torchvision, so the shim is applied first)."""
  import_torchvision()
  try:
    return importlib.import_module("timm")
  except ImportError:
    raise InputError("this needs timm: pip install 'cnnjax[torch]' (or pip install timm)") from None
