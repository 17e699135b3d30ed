"""`cnnjax train` as 2 processes x 2 CPU devices on localhost: shards, one writer, exact evaluation, resume,
oneDNN convolutions."""

import json

from cnnjax.fast.onednn_conv import onednn_status
from tests.parallel import subprocesses

TIMEOUT = 240


def _train(workdir, steps: int, *extra: str) -> list[str]:
  address = f"127.0.0.1:{subprocesses.free_port()}"
  args = ["-m", "cnnjax.main", "train", "--config", "configs/fashion_mnist_lenet5.py", "--workdir", str(workdir),
          f"--config.num_train_steps={steps}", "--config.checkpoint_every_steps=2", "--config.eval_every_epochs=0",
          "--config.log_every_steps=1", "--config.progress_bar=False", "--config.dataset.shuffle_buffer=1024",
          "--config.batch_size=64", "--config.eval_batch_size=768",  # 384 per process: the last batch is padded
          f"--coordinator_address={address}", "--num_processes=2", *extra]
  processes = [subprocesses.start([*args, f"--process_id={i}"], devices=2) for i in range(2)]
  return [subprocesses.finish(p, TIMEOUT) for p in processes]


def _is_gloo_chatter(line: str) -> bool:
  """Gloo's connection log; its "[Gloo] Rank" prefix and the rest can land on separate lines."""
  return line.startswith("[Gloo]") or ("connected to" in line and "peer ranks" in line)


def test_two_process_training_evaluates_every_example_once_and_resumes(tmp_path):
  out0, out1 = _train(tmp_path, steps=2)
  assert "global batch 64 on 4 device(s)" in out0
  assert [line for line in out1.splitlines() if not _is_gloo_chatter(line)] == []  # process 1 prints nothing
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["final"]["test_num_examples"] == 10000  # 2 x 5000, padded batches masked
  assert results["environment"]["process_count"] == 2
  # the oneDNN convolutions run across processes too (their sharding rule, cnnjax.kernels.batch_sharded)
  assert results["environment"]["fast_paths"]["onednn_convolutions"] == onednn_status()
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["2"]

  out0, _ = _train(tmp_path, 3, "--config.allow_config_change=true")  # a longer run is a change, allowed here
  assert "resumed at step 2" in out0
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train_steps = [r["step"] for r in records if r["split"] == "train"]
  assert train_steps == [1, 2, 3]  # one writer; the resumed run continues at step 3
  assert json.loads((tmp_path / "results.json").read_text())["final"]["steps"] == 3
