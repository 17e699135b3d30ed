"""The committed lecture companion (reports/lecture/): every section has tests, every figure is produced by a tested
section, the README is exactly what results.json generates, and every recorded number is asserted here
(value and tolerance stated) against a cheap re-run or the lecture's claim.
"""

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from cnnjax.lecture import arithmetic, augmentation, backprop, build, random_nets, selective_search, upsampling

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "lecture"
HERE = "tests/lecture/test_report.py"
SELECTIVE_SEARCH = "tests/segmentation/test_selective_search.py"

# Section key -> the tests that check its code and its recorded numbers. A new section without an entry fails
# test_every_section_has_tests; a named test that does not exist fails test_named_tests_exist.
SECTION_TESTS = {
    "linear": ["tests/lecture/test_templates_features.py::test_class_templates_are_the_kernel_columns",
               f"{HERE}::test_linear_numbers"],
    "neuron": ["tests/lecture/test_neuron_backprop.py::test_hand_written_gradient_equals_jax_grad",
               "tests/lecture/test_neuron_backprop.py::test_weight_decay_shrinks_the_weights",
               f"{HERE}::test_neuron_numbers"],
    "random_nets": [f"{HERE}::test_random_nets_numbers_rerun"],
    "backprop": ["tests/lecture/test_neuron_backprop.py::test_circuit_example",
                 "tests/lecture/test_neuron_backprop.py::test_multiply_example",
                 "tests/lecture/test_neuron_backprop.py::test_hand_written_backward_equals_jax_grad",
                 f"{HERE}::test_backprop_numbers_rerun"],
    "arithmetic": ["tests/lecture/test_arithmetic_upsampling.py::test_alexnet_shape_table",
                   f"{HERE}::test_arithmetic_numbers_rerun"],
    "cnn_features": ["tests/lecture/test_templates_features.py::test_first_layer_maps_are_conv_relu_and_2x2_max_pool",
                     f"{HERE}::test_cnn_features_numbers"],
    "upsampling": ["tests/lecture/test_arithmetic_upsampling.py::test_unpooling_examples",
                   f"{HERE}::test_upsampling_numbers_rerun"],
    "tricks": ["tests/lecture/test_tricks.py::test_inverted_dropout_averages_to_the_test_time_network",
               f"{HERE}::test_tricks_numbers"],
    "augmentation": ["tests/lecture/test_augmentation.py::test_summary_and_verdict",
                     f"{HERE}::test_augmentation_numbers"],
    "layers_learn": ["tests/lecture/test_layers_learn.py::test_top_activations_are_the_channel_maxima",
                     "tests/lecture/test_layers_learn.py::test_gradient_ascent_raises_each_channel",
                     f"{HERE}::test_layers_learn_numbers"],
    "plain_vs_residual": ["tests/lecture/test_plain_vs_residual.py::test_section_states_the_recorded_numbers",
                          "tests/lecture/test_plain_vs_residual.py::test_verdict_follows_the_numbers",
                          "tests/models/test_resnet_variants.py::test_a_block_with_zero_weights_passes_x_only_through_its_shortcut"],
    "selective_search": [f"{SELECTIVE_SEARCH}::test_similarities_match_hand_computations",
                         f"{SELECTIVE_SEARCH}::test_hierarchy_ends_in_one_region_covering_the_image",
                         f"{SELECTIVE_SEARCH}::test_rank_orders_by_position_times_random_and_drops_duplicates",
                         f"{HERE}::test_selective_search_numbers_rerun"],
}


@pytest.fixture(scope="module")
def results():
  return json.loads((REPORT / "results.json").read_text())


def numbers(results, key):
  return results["sections"][key]["numbers"]


def test_every_section_has_tests(results):
  sections = set(build.section_runners(Path("unused")))
  assert sections == set(SECTION_TESTS), "add the new section's tests to SECTION_TESTS"
  assert set(results["sections"]) == sections, "a section is missing from reports/lecture: run `cnnjax lecture`"


def test_named_tests_exist():
  for tests in SECTION_TESTS.values():
    for test in tests:
      path, name = test.split("::")
      tree = ast.parse((ROOT / path).read_text())
      assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, test


def test_readme_is_generated_from_results_json(results):
  assert (REPORT / "README.md").read_text() == build.index_markdown(results)


def test_every_linked_figure_comes_from_a_tested_section(results):
  readme = (REPORT / "README.md").read_text()
  linked = re.findall(r"\]\(([^)]+\.png)\)", readme)
  by_section = {f: k for k, s in results["sections"].items() for f in s["figures"]}
  assert sorted(linked) == sorted(by_section), "README links and results.json figures differ"
  assert all(by_section[f] in SECTION_TESTS for f in linked)
  assert sorted(p.name for p in REPORT.glob("*.png")) == sorted(linked), "a figure is unlinked or missing"
  assert all((REPORT / f).stat().st_size > 2000 for f in linked)


def _leaves(value):
  if isinstance(value, dict):
    for k, v in value.items():
      yield from _leaves(k)
      yield from _leaves(v)
  elif isinstance(value, (list, tuple)):
    for v in value:
      yield from _leaves(v)
  elif isinstance(value, bool):
    return
  elif isinstance(value, (int, float)):
    yield float(value)
  elif isinstance(value, str):
    yield from (float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", value))


def test_every_decimal_in_the_readme_is_a_recorded_number(results):
  """Each x.yz in a section's captions and text equals one of that section's recorded numbers to the digits shown.

  The augmentation verdict (differences of means) is generated by augmentation.describe and checked by
  test_augmentation_numbers, so it is left out here.
  """
  for key, section in results["sections"].items():
    markdown = section["markdown"]
    if key == "augmentation":
      markdown = markdown.replace(augmentation.describe(section["numbers"]["summary"]), "")
    text = " ".join(section["captions"]) + " " + markdown
    recorded = list(_leaves(section["numbers"]))
    for shown in re.findall(r"(?<![\w.])[-+]?\d+\.\d+", text):
      half_ulp = 0.5 * 10.0 ** -len(shown.split(".")[1]) + 1e-9
      assert any(abs(abs(v) - abs(float(shown))) <= half_ulp for v in recorded), (key, shown)


def test_linear_numbers(results):
  n = numbers(results, "linear")
  assert n["params"] == 28 * 28 * 10 + 10
  assert 0.80 <= n["test_accuracy"] <= 0.87  # a linear classifier on Fashion-MNIST: about 84%


def test_neuron_numbers(results):
  n = numbers(results, "neuron")
  assert n["max_abs_difference"] < 1e-5
  norms = [n["final_weight_norm_by_alpha"][a] for a in ("0.0", "0.01", "0.1", "1.0")]
  assert norms == sorted(norms, reverse=True) and norms[0] > 10 * norms[-1] / 2  # decay shrinks |w|
  g = {a: v["mean_G"] for a, v in n["held_out_by_alpha"].items()}
  assert min(g, key=g.get) == "0.01"  # some decay generalises best; none over-fits, too much under-fits


def test_random_nets_numbers_rerun(results):
  n = numbers(results, "random_nets")
  _, _, points = random_nets.plotting.grid(-3, 3, 121)
  for row, sigma in enumerate(random_nets.SIGMA_IN):
    out = np.asarray(random_nets.sample_outputs(row, 4, np.asarray(points, np.float32), n["hidden_units"], sigma,
                                                sigma, 1.0 / math.sqrt(n["hidden_units"])))
    np.testing.assert_allclose((out > 0).mean(1), n["class1_fraction_per_sample"][str(sigma)], atol=2e-3)


def test_backprop_numbers_rerun(results):
  n = numbers(results, "backprop")
  assert n["circuit_hand"] == {"q": 3.0, "f": -12.0, "df/dq": -4.0, "df/dx": -4.0, "df/dy": -4.0, "df/dz": 3.0}
  assert n["circuit_jax_grad"] == {"f": -12.0, "df/dx": -4.0, "df/dy": -4.0, "df/dz": 3.0}
  assert n["multiply_hand"] == {"f": -6.0, "df/dx": 3.0, "df/dy": -2.0}
  assert n["multiply_jax_grad"] == n["multiply_hand"]
  for error, diff in n["network_max_abs_gradient_difference"].items():
    assert diff < 1e-5
    assert backprop.max_difference(*backprop.gradient_check(error, n["weight_decay_lambda"])) < 1e-5


def test_arithmetic_numbers_rerun(results):
  n = numbers(results, "arithmetic")
  assert n["one_by_one_cost"] == arithmetic.one_by_one_cost()
  assert n["one_by_one_cost"]["direct_5x5"] == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
  assert n["one_by_one_cost"]["1x1_then_5x5"] == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16 == 12_443_648
  assert n["connectivity"]["formula"] == n["connectivity"]["linen_layers"] == {"global": 21, "local": 9, "shared": 3}
  total = n["alexnet_table"][0]
  assert total["params"] == 62_378_344 and abs(total["params"] / 60e6 - 1) < 0.05  # the lecture's "60M parameters"
  assert n["output_sizes"]["N=7,F=3,S=1"] == 5 and n["output_sizes"]["N=7,F=3,S=2"] == 3


def test_cnn_features_numbers(results):
  n = numbers(results, "cnn_features")
  assert n["relu_map_shape"] == [28, 28, 6] and n["pooled_map_shape"] == [14, 14, 6]
  assert 0.85 <= n["test_accuracy"] <= 0.92  # LeNet-5, 2 epochs


def test_upsampling_numbers_rerun(results):
  n = numbers(results, "upsampling")
  for stride, length in ((1, 4), (2, 2)):
    check = upsampling.transpose_check(stride)
    np.testing.assert_array_equal(check["X"], n[f"stride{stride}_conv_matrix"])
    np.testing.assert_allclose(check["conv_transpose"], check["X_T_a"], atol=1e-6)
  examples = upsampling.unpooling_examples()
  for key in ("nearest", "bed_of_nails", "max_pooled", "switches", "max_unpooled"):
    np.testing.assert_array_equal(examples[key], n[key])


def test_tricks_numbers(results):
  n = numbers(results, "tricks")
  assert n["dropout"]["kept_unit_scales"] == [0.0, 2.0]  # inverted dropout, p = 0.5
  assert 0.35 <= n["dropout"]["fraction_of_active_units_dropped"] <= 0.65
  np.testing.assert_allclose(n["dropout"]["mean_of_train_outputs"], n["dropout"]["test_output"], atol=0.05)
  plain, bn = n["batch_norm"]["without batch norm"], n["batch_norm"]["with batch norm"]
  # The lecture: batch norm makes the same network train faster; after one epoch: >= 5 points, lower losses.
  assert bn["test_accuracy"] >= plain["test_accuracy"] + 0.05
  assert bn["test_loss"] < plain["test_loss"] and bn["train_loss"] < plain["train_loss"]


def test_augmentation_numbers(results):
  n = numbers(results, "augmentation")
  assert len(n["seeds"]) >= 3 and n["train_images"] <= 5000
  for setting in augmentation.SETTINGS:
    s = n["summary"][setting]
    for metric, v in s.items():
      assert len(v["values"]) == len(n["seeds"])
      assert v["mean"] == pytest.approx(np.mean(v["values"]), abs=1e-4)
      assert v["std"] == pytest.approx(np.std(v["values"], ddof=1), abs=1e-4)
  # The text states what was measured, whichever way it went.
  assert augmentation.describe(n["summary"]) in results["sections"]["augmentation"]["markdown"]


def test_layers_learn_numbers(results):
  n = numbers(results, "layers_learn")
  assert n["conv1_kernel_shape"] == [3, 3, 1, 16]
  assert n["test_accuracy"] >= 0.80
  sides = n["patch_sides"]
  assert max(sides["layer1"]) <= 15 < max(sides["layer3"])  # stage 1's field is 15x15; deeper units see more
  dead_starts = 0
  for layer, v in n["ascent_mean_activation"].items():
    for before, after in zip(v["before"], v["after"]):
      if before == 0:  # 0 everywhere after the ReLU: no gradient, so ascent cannot move (layers_learn docstring)
        assert after == 0
        dead_starts += 1
      else:
        assert after > before, layer
  assert dead_starts <= 1  # recorded: stage 1's channel 3 starts (and stays) at 0 from noise of std 0.3


def test_selective_search_numbers_rerun(results):
  """The hierarchy (its level boxes) and the single mode's ranked boxes re-run exactly; more diversification, more
  boxes; the paper's hierarchy ends in the whole image."""
  n = numbers(results, "selective_search")
  image = selective_search.photo()
  assert n["image_size"] == list(image.shape[:2])
  record = n["hierarchy"]
  h = selective_search.ss.hierarchy(image, record["colour_space"], record["k"], record["strategy"])
  assert (record["initial_regions"], record["boxes"]) == (h.num_initial, len(h.boxes)) == (h.num_initial,
                                                                                         2 * h.num_initial - 1)
  for level, boxes in record["level_boxes"].items():
    assert selective_search.level_boxes(h, h.labels_at(int(level))).tolist() == boxes
  assert h.boxes[-1].tolist() == [0, 0, image.shape[1], image.shape[0]]
  single = selective_search.ss.selective_search(image, "single")
  assert n["proposals"]["single"] == len(single) and n["best_boxes"]["single"] == single[:5].tolist()
  assert 100 <= n["proposals"]["single"] < n["proposals"]["fast"] < n["proposals"]["quality"]
