"""One detection train step on a 1-device mesh and on all devices of this process, from the same state and batch.

Run in a process with several simulated CPU devices (tests/parallel/test_detection_devices.py); prints JSON with
each detector's loss on both meshes and the largest parameter difference after the step.
"""

import json

import jax
import numpy as np
from ml_collections import ConfigDict

from cnnjax.models import centernet, resnet
from cnnjax.parallel import mesh as mesh_lib
from cnnjax.train import config as config_lib, setup

BATCH = 8


def _config(method: str, model: str) -> ConfigDict:
  config = config_lib.default_config()
  config.task, config.model = "detection", model
  config.detection.method = method
  config.dataset.objects_key, config.dataset.num_classes = "objects", 10
  config.batch_size = BATCH
  config.schedule.name = "constant"
  config.fast_paths = "off"  # the same plain blocks on both meshes
  if method == "centernet":
    config.augment.flip = {}  # boxes flip with the pixels, drawn per example from the step's key
  return config


def _batch(method: str) -> dict:
  rng = np.random.default_rng(0)
  corner = rng.uniform(0, 30, (BATCH, 2, 2))
  boxes = np.concatenate([corner, corner + rng.uniform(10, 30, (BATCH, 2, 2))], -1).astype(np.float32)
  batch = {"image": rng.normal(size=(BATCH, 64, 64, 1)).astype(np.float32),
           "label": {"boxes": boxes, "classes": rng.integers(0, 10, (BATCH, 2)).astype(np.int32)}}
  if method == "rcnn":
    jitter = rng.uniform(-3, 3, (BATCH, 4, 4)).astype(np.float32)  # proposals near the objects, and far ones
    far = np.tile(np.asarray([[40.0, 40.0, 60.0, 60.0]], np.float32), (BATCH, 2, 1))
    batch["proposals"] = np.concatenate([np.concatenate([boxes, boxes], 1) + jitter, far], 1)
  return batch


def step(method: str, model, devices) -> tuple[float, dict]:
  config = _config(method, "centernet_resnet20_s8" if method == "centernet" else "rcnn_lenet5")
  mesh = mesh_lib.make_data_mesh(devices)
  training = setup.build_training(config, mesh, (64, 64, 1), steps_per_epoch=10, total_steps=10, model=model)
  state = training.init_state()
  state, metrics = training.train_step(state, mesh_lib.shard_batch(_batch(method), mesh), training.step_rng)
  return float(metrics["loss"]), jax.device_get(state.params)


def main() -> None:
  out = {"devices": jax.device_count()}
  tiny_centernet = centernet.CenterNet(backbone=resnet.cifar_resnet(8, num_classes=1, stem_stride=2), num_classes=10,
                                       stride=8)
  for method, model in (("centernet", tiny_centernet), ("rcnn", None)):
    one_loss, one = step(method, model, jax.devices()[:1])
    all_loss, every = step(method, model, jax.devices())
    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(every))]
    scale = max(float(np.max(np.abs(a))) for a in jax.tree.leaves(one))
    out[method] = {"loss_one": one_loss, "loss_all": all_loss, "max_param_diff": max(diffs), "param_scale": scale}
  print(json.dumps(out))


if __name__ == "__main__":
  main()
