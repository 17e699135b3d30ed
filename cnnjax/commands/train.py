"""`cnnjax train --config FILE --workdir DIR [--config.KEY=VALUE ...]`: run one experiment.

The config, the workdir and the batch's split over the devices are checked before the runner
starts; bad input is an InputError that `cnnjax` prints as one line (cnnjax/main.py). The flags
are absl's (--config.KEY=VALUE overrides from ml_collections), so their words join with underscores.
"""

import json
import os
import sys

from absl import flags

from cnnjax.commands.arguments import check_output_folder
from cnnjax.commands.config_args import flags_help, parse_config, wants_help
from cnnjax.errors import InputError

DESCRIPTION = "Train and evaluate the model of a config file; checkpoints, metrics and results.json go to --workdir."
EXAMPLES = (
    "cnnjax train --config configs/fashion_mnist_lenet5.py --workdir runs/lenet5",
    "cnnjax train --config configs/cifar10_resnet20.py --workdir runs/resnet20 --config.batch_size=256 "
    "--config.optimizer.learning_rate=0.2",
    "cnnjax train --config configs/imagenet_resnet50.py --workdir runs/resnet50 --coordinator_address host0:1234 "
    "--num_processes 2 --process_id 0",
)


def _define_run_flags(flag_values: flags.FlagValues) -> None:
  flags.DEFINE_string("workdir", None, "Folder for checkpoints, metrics and results.json (required).",
                      flag_values=flag_values)
  flags.DEFINE_string("coordinator_address", None, "host:port of process 0 for multi-host runs.",
                      flag_values=flag_values)
  flags.DEFINE_integer("num_processes", None, "Number of processes in a multi-host run.", flag_values=flag_values)
  flags.DEFINE_integer("process_id", None, "This process's index in a multi-host run.", flag_values=flag_values)
  flags.DEFINE_bool("distributed_auto", False, "Start the multi-host runtime from the cluster's environment "
                    "(JAX's auto-detection: SLURM, Open MPI, TPU pods).", flag_values=flag_values)


def run(argv: list[str]) -> int:
  if wants_help(argv):
    print(flags_help(argv[0], DESCRIPTION, _define_run_flags, EXAMPLES,
                     {"workdir": "DIR", "coordinator_address": "HOST:PORT"}))
    return 0
  args = parse_config(argv, _define_run_flags)
  if not args.workdir:
    raise InputError("--workdir is required (a folder for checkpoints and results)")
  if args.num_processes is None and not args.distributed_auto:  # process 0 of a multi-host run locks it later
    from cnnjax.train import workdir_lock
    workdir_lock.check_free(args.workdir)  # before JAX starts: a second run is refused at once
  from cnnjax.fast import process
  if args.config.get("xla_cpu_multi_output_fusion", False):  # JAX is not imported yet: flags still apply
    process.set_xla_flags(os.environ, multi_output_fusion=True)
  from cnnjax.train import config as config_lib
  config_lib.check_config(args.config)  # imports JAX, starts no backend
  check_output_folder(args.workdir, "--workdir")

  from cnnjax.parallel import distributed
  distributed.initialize(args.coordinator_address, args.num_processes, args.process_id,
                         auto_detect=args.distributed_auto)
  from cnnjax.parallel import mesh as mesh_lib
  mesh = mesh_lib.make_data_mesh()  # starts JAX's backend; compiles nothing
  mesh_lib.check_batch_size(args.config.batch_size, mesh)
  mesh_lib.check_batch_size(args.config.eval_batch_size, mesh, "config.eval_batch_size")

  from cnnjax.train import hooks, runner
  try:
    results = runner.train_and_evaluate(args.config, args.workdir, hooks.for_this_process())
  except runner.TrainingInterrupted as e:
    print(f"cnnjax train: {e}", file=sys.stderr)
    return 130
  import jax
  if jax.process_index() != 0:  # in a multi-process run the summary is printed once, by process 0
    return 0
  final = results["final"]
  print(json.dumps({k: v for k, v in final.items() if not isinstance(v, dict)}, indent=2))
  accuracy = next((v for k, v in final.items() if k.endswith("_accuracy") and k != "train_accuracy"), None)
  if accuracy is not None:
    print(f"{args.config.dataset.eval_split} accuracy: {accuracy:.4f}")
  print(f"results: {args.workdir.rstrip('/')}/results.json")
  return 0
