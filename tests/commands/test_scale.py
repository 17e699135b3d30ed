"""`cnnjax scale` end to end on 1 and 2 simulated CPU devices: a process per point, then JSON, table and plot."""

import json

from cnnjax.fast.onednn_conv import onednn_status
from tests.parallel import subprocesses


def test_scale_command_writes_json_table_and_plot(tmp_path):
  """Also proves the accelerator path: without --config, tensorflow and tfds are never imported."""
  out = tmp_path / "study"
  blocked = subprocesses.blocking_imports(tmp_path / "blocked", ("tensorflow", "tensorflow_datasets"))
  process = subprocesses.start(["-m", "cnnjax.main", "scale", "--model", "lenet5", "--input_shape", "28,28,1",
                                "--devices", "1,2", "--per_device_batch", "4", "--global_batch", "0", "--steps", "2",
                                "--warmup_steps", "1", "--out", str(out)], devices=1, path_first=(blocked,))
  subprocesses.finish(process, timeout=240)
  study = json.loads((out / "scaling.json").read_text())
  assert study["backend"] == "cpu" and study["simulated_devices"]
  assert study["config"]["model"] == "lenet5" and study["config"]["dataset"]["name"] == "synthetic"
  assert [(p["devices"], p["global_batch"]) for p in study["points"]] == [(1, 4), (2, 8)]
  for p in study["points"]:
    assert p["compile_seconds"] > 0 and p["images_per_second"] > 0 and p["peak_memory_bytes"] > 2**20
    assert len(p["step_seconds"]) == 2 and p["input_shape"] == [28, 28, 1]
    assert p["fast_paths"]["mode"] == "auto"
  # oneDNN convolutions on 2 devices too: their sharding rule splits the batch (cnnjax.kernels.batch_sharded)
  assert study["points"][1]["fast_paths"]["onednn_convolutions"] == onednn_status()
  assert study["points"][0]["weak_efficiency"] == 1.0
  table = (out / "scaling.md").read_text()
  assert "share this machine's" in table and table.count("\n| ") == 3  # header + 2 points
  assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"
  spec = json.loads((out / "points" / "d2_b4.spec.json").read_text())
  assert spec["config"]["batch_size"] == 8 and spec["settings"]["devices"] == 2


def test_scale_takes_a_shipped_config_by_name(tmp_path, monkeypatch):
  from cnnjax.commands import scale
  monkeypatch.chdir(tmp_path)  # no configs/ here
  args, extra = scale._parser().parse_known_args(["--config", "fashion_mnist_lenet5", "--config.optimizer.momentum=0.5"])
  config = scale._config(args, extra)
  assert config.model == "lenet5" and config.optimizer.momentum == 0.5 and config.dataset.name == "synthetic"
