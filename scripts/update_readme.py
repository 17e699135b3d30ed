"""Regenerates the README's results table from results/*/results.json (the recorded runs).

    .venv/bin/python scripts/update_readme.py

Rows come only from files produced by runs; nothing is typed by hand.
"""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _row(path: Path) -> str | None:
  results = json.loads(path.read_text())
  final, config, env = results["final"], results["config"], results["environment"]
  accuracy = next((v for k, v in final.items() if k.endswith("_accuracy") and k != "train_accuracy"), None)
  if accuracy is None:
    return None
  split = config["dataset"]["eval_split"]
  speed = final.get("examples_per_second")
  return (f"| [{path.parent.name}]({path.parent.relative_to(REPO)}/results.json) | {config['model']} | "
          f"{config['dataset']['name']} | {final['params']:,} | {final['epochs']:.0f} | {split} {accuracy:.2%} | "
          f"{speed:,.0f} | {env['device_kind']} x{env['device_count']} | {str(env.get('git_commit'))[:12]} |")


def results_table() -> str:
  rows = [r for p in sorted((REPO / "results").glob("*/results.json")) if (r := _row(p))]
  header = ("| run | model | dataset | params | epochs | accuracy | train img/s | devices | commit |\n"
            "|---|---|---|---:|---:|---:|---:|---|---|")
  return "\n".join([header, *rows])


def main() -> None:
  readme = REPO / "README.md"
  text = readme.read_text()
  pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
  readme.write_text(pattern.sub(f"{START}\n{results_table()}\n{END}", text))


if __name__ == "__main__":
  main()
