"""Fine-tuning's start: a fresh state whose variables are replaced by those of config.init_from where they fit.

Why: transfer learning (the lecture's fine-tuning) starts from another run's weights; a head for another
class count keeps its fresh initialisation. The source is a weights directory (cnnjax.weights.directory)
or a run's workdir (its newest good checkpoint), its variables optionally converted first
(config.init_from_convert, a name in cnnjax.weights.convolutionalize.CONVERSIONS). A variable loads when
its "/"-joined path (e.g. "params/backbone/conv1_1/kernel") and shape match; the report says how many
loaded, which were re-initialised (same path, other shape) and which the source lacks (missing).
Applied at a fresh start only: a resume restores its checkpoint as before.
"""

import json
from pathlib import Path

import jax
import numpy as np
from flax import traverse_util

from cnnjax.errors import InputError
from cnnjax.train import checkpoint
from cnnjax.weights import convolutionalize, directory

COLLECTIONS = ("params", "batch_stats")


def _weights_directory_variables(path: Path) -> dict | None:
  """The variables of a weights directory, or None when `path` is not one."""
  if not directory.is_weights_directory(path):
    return None
  return dict(directory.load_weights(path).variables)


def _workdir_variables(path: Path) -> dict | None:
  """params and batch_stats of the newest good checkpoint in a run's workdir, or None when it has none."""
  if not checkpoint.has_saved_steps(path):
    return None
  ckpt = checkpoint.Checkpointer(path)
  try:
    state = ckpt.restore(None)
  finally:
    ckpt.close()
  if state is None:
    return None
  return {name: state[name] for name in COLLECTIONS if state.get(name)}


def read_source(path: str | Path) -> dict:
  """{"params": ..., "batch_stats": ...} (nested dicts of arrays) from a weights directory or a run's workdir."""
  path = Path(path)
  if not path.exists():
    raise InputError(f"config.init_from={str(path)!r} does not exist; give a weights directory or a run's workdir")
  for reader in (_weights_directory_variables, _workdir_variables):
    variables = reader(path)
    if variables is not None:
      return variables
  raise InputError(f"config.init_from={str(path)!r} is neither a weights directory nor a workdir with a saved "
                   "checkpoint; give one of those")


def convert(variables: dict, name: str) -> dict:
  """The source's variables through the conversion config.init_from_convert names."""
  if name not in convolutionalize.CONVERSIONS:
    raise InputError(f"config.init_from_convert={name!r} is unknown; use one of "
                     f"{', '.join(repr(k) for k in convolutionalize.CONVERSIONS)}")
  return convolutionalize.CONVERSIONS[name](variables)


def merge(fresh: dict, source: dict) -> tuple[dict, dict]:
  """`fresh` variables with each leaf replaced by `source`'s at the same path and shape; and the report.

  Report: {"loaded": count, "reinitialised": ["path shape_fresh <- shape_source", ...], "missing": [paths],
  "unused": count of source leaves the model has no place for}. Loaded leaves take fresh's dtype.
  """
  flat_source = traverse_util.flatten_dict(source, sep="/")
  loaded, reinitialised, missing = 0, [], []

  def pick(path: str, leaf):
    nonlocal loaded
    if path not in flat_source:
      missing.append(path)
      return leaf
    value = flat_source[path]
    if tuple(np.shape(value)) != tuple(leaf.shape):
      reinitialised.append(f"{path} {tuple(leaf.shape)} <- {tuple(np.shape(value))}")
      return leaf
    loaded += 1
    return np.asarray(value, dtype=leaf.dtype)

  merged = {}
  for name in fresh:
    merged[name] = jax.tree_util.tree_map_with_path(
        lambda p, leaf, name=name: pick("/".join([name, *(str(k.key) for k in p)]), leaf), fresh[name])
  used = loaded + len(reinitialised)
  return merged, {"loaded": loaded, "reinitialised": reinitialised, "missing": missing,
                  "unused": len(flat_source) - used}


def initialise(state, config):
  """`state` (fresh, replicated) with config.init_from's matching variables; returns (state, report).

  The report adds "source" and "convert" to merge's. Loaded arrays keep the fresh ones' shardings.
  """
  source = convert(read_source(config.init_from), config.init_from_convert)
  fresh = {"params": state.params}
  if state.batch_stats:
    fresh["batch_stats"] = state.batch_stats
  merged, report = merge(jax.device_get(fresh), source)
  placed = jax.tree.map(lambda new, old: jax.device_put(new, old.sharding), merged, fresh)
  state = state.replace(params=placed["params"], batch_stats=placed.get("batch_stats", state.batch_stats))
  if report["loaded"] == 0:
    raise InputError(f"config.init_from={config.init_from!r}: no variable matches the model's paths and shapes; "
                     "choose a source of the same model or set config.init_from_convert")
  return state, {"source": str(config.init_from), "convert": config.init_from_convert, **report}


def describe(report: dict) -> list[str]:
  """Log lines for a report: the counts, then each re-initialised variable."""
  lines = [f"init_from {report['source']}" + (f" ({report['convert']})" if report["convert"] else "")
           + f": {report['loaded']} variables loaded, {len(report['reinitialised'])} re-initialised (shape differs), "
           f"{len(report['missing'])} missing from the source (fresh), {report['unused']} of the source's unused"]
  lines += [f"init_from re-initialised {line}" for line in report["reinitialised"]]
  return lines


REPORT_FILE = "init_from.json"


def write_report(workdir: str | Path, report: dict | None, start_step: int) -> None:
  """Keeps a fresh start's report in the workdir (so a resumed run's results.json has it); a fresh start
  without init_from removes an older one."""
  path = Path(workdir) / REPORT_FILE
  if report is not None:
    path.write_text(json.dumps(report, indent=2) + "\n")
  elif start_step == 0 and path.exists():
    path.unlink()


def read_report(workdir: str | Path) -> dict | None:
  """The report write_report kept, or None."""
  path = Path(workdir) / REPORT_FILE
  return json.loads(path.read_text()) if path.exists() else None
