"""The README's example stack is real: it is examples/readme/main.py verbatim, and it synthesizes."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_shows_the_example_file_verbatim():
    example = (ROOT / "examples" / "readme" / "main.py").read_text()
    assert "```python\n" + example + "```" in (ROOT / "README.md").read_text()
    assert len(example.strip().splitlines()) <= 22


def test_the_readme_example_synthesizes_a_secret_a_channel_and_two_automations(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "examples" / "readme" / "main.py")], cwd=tmp_path, check=True,
                   capture_output=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
                                             "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    doc = json.loads((tmp_path / "cdktf.out" / "stacks" / "alerts" / "cdk.tf.json").read_text())
    resources = doc["resource"]
    assert len(resources["tocsin_automation"]) == 2
    assert len(resources["tocsin_block"]) == 1
    assert "value_wo" in next(iter(resources["tocsin_secret"].values()))
    assert "TF_VAR" not in json.dumps(doc) and "hooks.slack.com" not in json.dumps(doc)
