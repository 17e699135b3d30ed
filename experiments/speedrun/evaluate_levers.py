"""The evaluation-side levers of one finished speedrun run, from its checkpoint: raw or EMA weights, with or without
flip test-time augmentation.

    PYTHONPATH=. python experiments/speedrun/evaluate_levers.py --workdir runs/fashion_mnist_speedrun

Why: neither the EMA nor the flip TTA feeds back into training (the raw weights of a run with the EMA on are
bitwise those of the same run with it off), so their effect on one trained run is measured exactly by evaluating
its last checkpoint four ways, at the cost of four evaluations instead of retrained runs. Prints a JSON object
{"step": N, "raw": {"plain": acc, "flip_tta": acc}, "ema": {...}} (no "ema" for a run without one) and writes it
to WORKDIR/evaluate_levers.json.
"""

import argparse
import functools
import json
import sys
from pathlib import Path

import jax
import ml_collections

from cnnjax.data import pipeline
from cnnjax.parallel import mesh as mesh_lib
from cnnjax.train import checkpoint, runner, setup, steps


def evaluate_four_ways(workdir: Path) -> dict:
  config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
  mesh = mesh_lib.make_data_mesh()
  train_data = pipeline.make_train_data(config.dataset, config.batch_size, config.seed, pipeline.Shard(0, 1))
  training = setup.build_training(config, mesh, train_data.input_shape, train_data.steps_per_epoch, 1)
  ckpt = checkpoint.Checkpointer(workdir)
  state = ckpt.restore(training.abstract_state)
  ckpt.close()
  found = {}
  for weights in ("raw", "ema") if config.ema_decay else ("raw",):  # a run without the EMA kept none
    for tta in (False, True):
      step = jax.jit(functools.partial(steps.eval_step, task=training.task, use_ema=weights == "ema", flip_tta=tta))
      metrics = runner.evaluate(step, state, config.dataset, config.dataset.eval_split, config.eval_batch_size, mesh,
                                training.task)
      found.setdefault(weights, {})["flip_tta" if tta else "plain"] = metrics["accuracy"]
  return {"step": int(state.step), **found}


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", required=True, help="a finished `cnnjax train` run of the speedrun config")
  args = parser.parse_args(argv)
  found = evaluate_four_ways(Path(args.workdir))
  text = json.dumps(found, indent=2)
  (Path(args.workdir) / "evaluate_levers.json").write_text(text + "\n")
  print(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
