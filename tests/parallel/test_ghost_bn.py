"""Per-device ("ghost") batch norm through shard_map: gradients, loss and statistics against a hand reference."""

from tests.parallel import subprocesses


def test_per_device_batch_norm_matches_the_mean_of_per_shard_losses():
  r = subprocesses.run_json(["-m", "tests.parallel.ghost_bn_worker"], devices=8)
  assert r["grad_error"] < 1e-5, r          # mean of per-shard gradients, weight decay counted once
  assert r["loss_error"] < 1e-6, r
  assert r["batch_stats_error"] < 1e-5, r   # running statistics: mean of the devices' updates
  assert r["global_vs_ghost_loss"] > 1e-3, r  # per-device statistics really differ from global ones
  assert r["naive_over_reference"] < 1e-5, r  # pmean of shard_map gradients is 8x the true gradient
  assert r["params_unchanged"] == 0.0, r
