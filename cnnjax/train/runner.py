"""train_and_evaluate(config, workdir): one experiment from config to results.json.

config -> tfds pipeline (per-process shard) -> global batch sharded over the mesh -> jitted
train_step -> metrics.jsonl / TensorBoard (process 0) and orbax checkpoints -> full-split
evaluation -> results.json. Starting in a workdir with a checkpoint resumes it exactly.
The steps are compiled ahead of time on their first call; results.json["compile"] records how long
that took and what JAX's persistent compilation cache served (cnnjax.train.compile_timing).
"""

import functools
import json
import math
import re
import signal
import time
from pathlib import Path

import jax
import numpy as np

from cnnjax.errors import RunFailure
from cnnjax.data import pipeline
from cnnjax.parallel import mesh as mesh_lib
from cnnjax.train import (checkpoint, compile_timing, config as config_lib, confusion_plot, environment, init_from,
                          metric_writer, run_config, setup)
from cnnjax.train.hooks import StepHooks
from cnnjax.train.workdir_lock import WorkdirLock

# A logged training loss above this multiple of the run's first one counts as diverging: such a
# checkpoint is finite but resuming from it explodes again.
DIVERGENCE_FACTOR = 4.0
# A classification run's confusion matrix over its evaluation split, drawn at the end (results.json has the counts).
CONFUSION_PNG = "confusion_matrix.png"


class TrainingInterrupted(RuntimeError):
  """SIGTERM or SIGINT arrived; a checkpoint of the last finished step was saved."""


class NonFiniteLossError(RunFailure):
  """The training loss became NaN or Inf; the checkpoints are kept."""


class _StopSignals:
  """Turns SIGTERM/SIGINT into a flag the loop checks after each step; restores old handlers on exit."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: leave signals alone
        pass
    return self

  def _handle(self, signum, frame):
    self.received = signum

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _split_name(split: str) -> str:
  return "".join(ch if ch.isalnum() else "_" for ch in split)


def evaluate(eval_fn, state, ds_config, split: str, batch_size: int, mesh, task) -> dict[str, float]:
  """Metrics over every example of `split` exactly once, summed on device across all processes."""
  data = pipeline.make_eval_iterator(ds_config, split, batch_size // jax.process_count(),
                                     pipeline.Shard(jax.process_index(), jax.process_count()))
  totals = None
  for batch in data.iterator:
    totals = task.accumulate(totals, eval_fn(state, mesh_lib.shard_batch(batch, mesh)))
  return task.finalize(jax.device_get(totals))


_SCALAR = r"(?:-?[0-9.eE+-]+|null|true|false)"
_SCALAR_LIST = re.compile(r"\[\n\s*(" + _SCALAR + r"(?:,\n\s*" + _SCALAR + r")*)\n\s*\]")


def results_json(results: dict) -> str:
  """results.json's text: indented, with each list of numbers on one line (a confusion matrix one row a line).

  JSON strings hold no raw newlines, so only the indentation's lists are joined.
  """
  text = json.dumps(results, indent=2)
  return _SCALAR_LIST.sub(lambda m: "[" + re.sub(r",\n\s*", ", ", m.group(1)) + "]", text) + "\n"


def _mean_metrics(pending: list[dict]) -> dict[str, float]:
  fetched = jax.device_get(pending)
  return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}


def last_healthy_checkpoint(checkpoint_steps: list[int], rows: list[dict]) -> tuple[int, float] | None:
  """The newest checkpoint that training went on from with a finite, non-diverging loss, and that loss.

  The loss logged at step s comes from the parameters of step s - 1, so checkpoint s is judged by
  the first training row after it (and its own). Diverging: above DIVERGENCE_FACTOR times the run's
  first logged training loss.
  """
  train = sorted((r["step"], r.get("loss")) for r in rows if r.get("split") == "train")
  if not train:
    return None
  first = train[0][1]
  limit = DIVERGENCE_FACTOR * first if first is not None and math.isfinite(first) else math.inf
  healthy = lambda loss: loss is not None and math.isfinite(loss) and loss <= limit
  logged = dict(train)
  for step in sorted(checkpoint_steps, reverse=True):
    after = next((loss for s, loss in train if s > step), None)
    if healthy(logged.get(step)) and healthy(after):
      return step, after
  return None


def _divergence_advice(ckpt, writer) -> str:
  ckpt.wait()
  healthy = last_healthy_checkpoint(ckpt.steps(), metric_writer.read_rows(writer.path))
  if healthy is None:
    return ("No saved checkpoint was followed by a finite, non-diverging loss: start afresh with "
            "--config.resume_from_step=0 and a lower config.optimizer.learning_rate or warmup "
            "(config.schedule.warmup_epochs).")
  step, loss = healthy
  return (f"The last checkpoint followed by a finite, non-diverging loss is step {step} (loss {loss:.4g} after it) "
          f"in {ckpt.directory}: resume from it with --config.resume_from_step={step} and a lower "
          "config.optimizer.learning_rate or warmup (config.schedule.warmup_epochs), adding "
          "--config.allow_config_change=true for the changed config.")


def evaluation_settings(config) -> dict:
  """What the evaluation ran: "weights" ("ema": the moving average, config.ema_decay > 0; "raw": the trained
  parameters) and "flip_tta" (logits averaged with the mirrored image's), for results.json."""
  return {"weights": "ema" if config.get("ema_decay", 0.0) else "raw",
          "flip_tta": bool(config.get("eval_flip_tta", False))}


def train_and_evaluate(config, workdir: str | Path, hooks: StepHooks | None = None) -> dict:
  """Trains `config`'s model on its dataset, evaluates it and writes results.json in `workdir`.

  `hooks` are called around the steps (cnnjax.train.hooks; the `cnnjax` command passes the process's
  own); none by default. Returns the results dictionary. One run at a time per workdir: raises WorkdirLockedError while
  another live run holds it, TrainingInterrupted after saving on SIGTERM/SIGINT, NonFiniteLossError
  (without saving) when the loss stops being finite and CheckpointSaveError when a save fails.
  """
  config_lib.check_config(config)
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  hooks = hooks or StepHooks()
  with compile_timing.CacheEvents() as cache_events:
    if jax.process_index() != 0:
      return _train_and_evaluate(config, workdir, hooks, cache_events)
    with WorkdirLock(workdir):
      return _train_and_evaluate(config, workdir, hooks, cache_events)


def _train_and_evaluate(config, workdir: Path, hooks: StepHooks, cache_events: compile_timing.CacheEvents) -> dict:
  is_main = jax.process_index() == 0
  run_environment = environment.describe_environment()  # at the start: the code that actually ran
  config_changes = run_config.check_resume(workdir, config)  # refuses a changed run before any work

  mesh = mesh_lib.make_data_mesh()
  mesh_lib.check_batch_size(config.batch_size, mesh)
  mesh_lib.check_batch_size(config.eval_batch_size, mesh, "config.eval_batch_size")
  shard = pipeline.Shard(jax.process_index(), jax.process_count())
  train_data = pipeline.make_train_data(config.dataset, config.batch_size // jax.process_count(), config.seed, shard)
  steps_per_epoch = train_data.steps_per_epoch
  total_steps = config_lib.total_train_steps(config, steps_per_epoch)

  training = setup.build_training(config, mesh, train_data.input_shape, steps_per_epoch, total_steps)
  run_environment["fast_paths"] = training.fast_paths
  task = training.task
  ckpt = checkpoint.Checkpointer(workdir, keep=config.keep_checkpoints)
  ckpt.remove_interrupted_saves()
  state = ckpt.restore(training.abstract_state, config.resume_from_step)
  init_report = None
  if state is None:
    state = training.init_state()
    if config.init_from:
      state, init_report = init_from.initialise(state, config)
  start_step = int(jax.device_get(state.step))
  finished = workdir / "results.json"
  # A finished single-process run keeps its results (multi-host runs re-evaluate together instead).
  if start_step >= total_steps and finished.exists() and jax.process_count() == 1:
    ckpt.close()
    print(f"{workdir} holds a finished run ({start_step} steps); its results are kept in {finished}"
          + (" with its config.json (the given config's changes apply to no step)" if config_changes else ""))
    return json.loads(finished.read_text())
  if is_main:  # the run is valid: its config passed the checks, its checkpoint (if any) fits the model
    run_config.write(workdir, config, config_changes, start_step)
    init_from.write_report(workdir, init_report, start_step)

  train_fn, step_rng = compile_timing.CompiledOnFirstCall(training.train_step), training.step_rng
  eval_fn = compile_timing.CompiledOnFirstCall(training.eval_step)
  run_evaluation = functools.partial(evaluate, eval_fn, ds_config=config.dataset, split=config.dataset.eval_split,
                                     batch_size=config.eval_batch_size, mesh=mesh, task=task)
  eval_every = int(round(config.eval_every_epochs * steps_per_epoch)) if config.eval_every_epochs > 0 else 0

  def evaluate_and_log(step: int, state) -> dict[str, float]:
    # The step's checkpoint is committed first, so a crash during evaluation resumes from this step
    # (and tfds.testing.mock_data, which patches file paths while building a dataset, cannot touch the save).
    ckpt.wait()
    evaluation = run_evaluation(state)
    scalars = {k: v for k, v in evaluation.items()
               if isinstance(v, (int, float))}  # per-class tables (and None): results.json only
    writer.write(step, scalars, prefix=_split_name(config.dataset.eval_split))
    if step < total_steps:
      headline = task.headline_metric
      writer.message(f"step {step}: {config.dataset.eval_split} {headline} {evaluation.get(headline, float('nan')):.4f}")
    return evaluation

  writer = metric_writer.MetricWriter(workdir, total_steps, start_step, progress=config.progress_bar)
  writer.message(f"training {config.model} on {config.dataset.name}: {total_steps} steps "
                 f"({steps_per_epoch}/epoch), global batch {config.batch_size} on {mesh.devices.size} device(s)"
                 + (f", resumed at step {start_step}" if start_step else ""))
  for line in init_from.describe(init_report) if init_report else ():
    writer.message(line)
  for line in run_config.describe(config_changes):
    writer.message(f"config changed since the saved config.json ({run_config.CHANGES_FILE}): {line}")
  batches = train_data.batches(start_step)
  pending: list[dict] = []
  last_train = writer.last_train_row  # a run resumed at its end has no step left to log
  window_start, window_steps, timed_steps, timed_seconds = None, 0, 0, 0.0

  def flush(step: int) -> dict[str, float]:
    """Fetches pending metrics, stops on a non-finite loss, and logs their mean."""
    nonlocal pending, window_start, window_steps, timed_steps, timed_seconds
    metrics = _mean_metrics(pending)
    now = time.perf_counter()
    if not math.isfinite(metrics["loss"]):
      raise NonFiniteLossError(
          f"training loss became {metrics['loss']} between steps {step - len(pending) + 1} and {step}; "
          f"stopped without saving. {_divergence_advice(ckpt, writer)}")
    if window_start is not None and window_steps:
      elapsed = now - window_start
      metrics["examples_per_second"] = window_steps * config.batch_size / elapsed
      timed_steps, timed_seconds = timed_steps + window_steps, timed_seconds + elapsed
    metrics["epoch"] = step / steps_per_epoch
    writer.write(step, metrics)
    pending, window_start, window_steps = [], now, 0
    return metrics

  if start_step and eval_every and start_step % eval_every == 0 and start_step < total_steps:
    evaluate_and_log(start_step, state)  # logged after checkpoint `start_step` was saved: dropped, so repeated
  with _StopSignals() as stop:
    for step in range(start_step + 1, total_steps + 1):
      batch = mesh_lib.shard_batch(next(batches), mesh)
      hooks.before_step(state)
      state, metrics = train_fn(state, batch, step_rng)
      pending.append(metrics)
      window_steps += 1
      writer.advance(1)
      ckpt.check_saves()
      done = step == total_steps
      stopping = stop.received is not None and not done  # read once: a signal may land mid-iteration
      save_now = done or stopping or step % config.checkpoint_every_steps == 0
      if step % config.log_every_steps == 0 or save_now or step == 1:
        last_train = flush(step)
      if step == start_step + 1:  # the clock starts after compilation
        jax.block_until_ready(metrics)
        window_start, window_steps = time.perf_counter(), 0
        hooks.after_compile()
        writer.message(f"train step compiled in {train_fn.compile_seconds:.2f} s"
                       + (" (loaded from the compilation cache)" if train_fn.from_cache else ""))
      if save_now:
        ckpt.save(state)
      if stopping:
        ckpt.wait()
        writer.close()
        raise TrainingInterrupted(f"signal {stop.received} received: saved step {step} in {ckpt.directory}; "
                                  "run the same command again to resume")
      if eval_every and step % eval_every == 0 and not done:
        evaluate_and_log(step, state)

  evaluation = evaluate_and_log(total_steps, state)
  writer.close()
  ckpt.close()
  split = _split_name(config.dataset.eval_split)
  final = {f"{split}_{k}": v for k, v in evaluation.items()}
  final.update({
      "train_loss": last_train.get("loss"),
      "train_accuracy": last_train.get("accuracy"),
      "steps": total_steps,
      "epochs": total_steps / steps_per_epoch,
      "examples_per_second": timed_steps * config.batch_size / timed_seconds if timed_seconds else None,
      "params": int(sum(np.size(p) for p in jax.tree.leaves(state.params))),
  })
  results = {"final": final, "evaluation": evaluation_settings(config),
             "config": json.loads(config.to_json_best_effort()),
             "environment": run_environment,
             "compile": compile_timing.report({"train_step": train_fn, "eval_step": eval_fn}, cache_events)}
  if config.init_from:
    results["init_from"] = init_from.read_report(workdir)
  if is_main:
    (workdir / "results.json").write_text(results_json(results))
    if "classes" in evaluation:
      confusion_plot.save(evaluation["classes"]["confusion_matrix"], workdir / CONFUSION_PNG,
                          f"{config.model} on {config.dataset.name} {config.dataset.eval_split}, step {total_steps}")
  return results
