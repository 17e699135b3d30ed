"""Reading and writing PyTorch state dicts (.pth/.pt with torch.load(weights_only=True), .safetensors) as numpy.

A checkpoint that wraps its state dict (a dict whose "state_dict" or "model" entry holds it, as
training scripts commonly save) is unwrapped; a DataParallel "module." prefix is removed. Anything
unreadable is an InputError naming the file.
"""

from pathlib import Path

import numpy as np

from cnnjax.errors import InputError
from cnnjax.weights.torch_shim import import_torch

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
_DATA_PARALLEL_PREFIX = "module."


def _unwrap(loaded, path: Path) -> dict:
  if isinstance(loaded, dict):
    for key in _WRAPPER_KEYS:
      if isinstance(loaded.get(key), dict):
        return _unwrap(loaded[key], path)
    if loaded and all(isinstance(k, str) for k in loaded):
      if all(k.startswith(_DATA_PARALLEL_PREFIX) for k in loaded):
        loaded = {k[len(_DATA_PARALLEL_PREFIX):]: v for k, v in loaded.items()}
      return loaded
  raise InputError(f"{path}: not a PyTorch state dict (a mapping from parameter names to tensors); "
                   "save one with torch.save(model.state_dict(), PATH)")


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
  """The tensors of the state dict in `path`, as float32/int64 numpy arrays keyed by their PyTorch names."""
  path = Path(path)
  if not path.is_file():
    raise InputError(f"--weights {path}: no such file; give a .pth, .pt or .safetensors state dict")
  if path.suffix == SAFETENSORS_SUFFIX:
    from safetensors.numpy import load_file
    try:
      return dict(load_file(str(path)))
    except Exception as error:  # safetensors raises its own SafetensorError and OSErrors
      raise InputError(f"{path}: not a readable safetensors file ({str(error).splitlines()[0]}); "
                       "re-export it with safetensors.torch.save_file") from None
  if path.suffix not in TORCH_SUFFIXES:
    raise InputError(f"{path}: unknown weights format {path.suffix!r}; give a .pth, .pt or .safetensors file")
  torch = import_torch()
  try:
    loaded = torch.load(str(path), map_location="cpu", weights_only=True)
  except Exception as error:  # pickle, zip and torch's own errors
    raise InputError(f"{path}: not a readable PyTorch file ({str(error).splitlines()[0][:160]}); "
                     "save it with torch.save(model.state_dict(), PATH)") from None
  state = _unwrap(loaded, path)
  return {name: tensor.detach().cpu().numpy() for name, tensor in state.items() if hasattr(tensor, "detach")}


def save_state_dict(state: dict[str, np.ndarray], path: str | Path) -> Path:
  """Writes `state` as .safetensors or, for .pth/.pt, with torch.save (readable by torch.load(weights_only=True))."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = {name: np.asarray(value, order="C") for name, value in state.items()}  # keeps 0-d tensors 0-d
  if path.suffix == SAFETENSORS_SUFFIX:
    from safetensors.numpy import save_file
    save_file(arrays, str(path))
  elif path.suffix in TORCH_SUFFIXES:
    torch = import_torch()
    torch.save({name: torch.from_numpy(value) for name, value in arrays.items()}, str(path))
  else:
    raise InputError(f"{path}: unknown weights format {path.suffix!r}; write .pth, .pt or .safetensors")
  return path
