"""Detection steps are data parallel like the others: one step of CenterNet (with box-moving flips) and of R-CNN
(with proposals in the batch) gives the same loss and parameters on 1 device and on 8."""

import json

from tests.parallel import subprocesses


def test_one_and_eight_devices_take_the_same_detection_step():
  worker = subprocesses.start(["-m", "tests.parallel.detection_step"], 8)
  out, err = worker.communicate(timeout=300)
  assert worker.returncode == 0, err[-2000:]
  result = json.loads(out.strip().splitlines()[-1])
  assert result["devices"] == 8
  for method in ("centernet", "rcnn"):
    r = result[method]
    assert abs(r["loss_one"] - r["loss_all"]) <= 1e-5 * abs(r["loss_one"]), r
    assert r["max_param_diff"] <= 1e-5 * r["param_scale"], r  # float32 sums in another order, not other steps
