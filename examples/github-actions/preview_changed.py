#!/usr/bin/env python
"""List the automations a PR adds or changes and render each with `tocsin preview`, as Markdown on stdout.

    python preview_changed.py --base BASE_OUT --head cdktf.out [--tocsin tocsin]

BASE_OUT/HEAD are cdktf output directories (cdktf.out). An automation is compared by its Terraform address; its
JSON (name, trigger, actions...) is written to a temp file and passed to `tocsin preview FILE`. References to
blocks that are not applied yet stay as `${tocsin_block.<name>.id}`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

JSON_FIELDS = ("trigger", "actions", "actions_on_trigger", "actions_on_resolve")


def automations(out_dir: Path) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for tf_json in sorted(out_dir.glob("stacks/*/cdk.tf.json")):
        doc = json.loads(tf_json.read_text())
        for name, res in doc.get("resource", {}).get("tocsin_automation", {}).items():
            body = {k: v for k, v in res.items() if k != "//"}
            for key in JSON_FIELDS:
                if isinstance(body.get(key), str):
                    body[key] = json.loads(body[key])
            found[f"{tf_json.parent.name}/tocsin_automation.{name}"] = body
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--head", type=Path, required=True)
    parser.add_argument("--tocsin", default="tocsin")
    args = parser.parse_args()
    base, head = automations(args.base), automations(args.head)
    changed = [addr for addr in head if base.get(addr) != head[addr]]
    removed = [addr for addr in base if addr not in head]
    print("<!-- tocsin-preview -->")
    print(f"### Tocsin: {len(changed)} automation(s) added or changed, {len(removed)} removed\n")
    for addr in removed:
        print(f"- removed: `{addr}` ({base[addr].get('name')})")
    for addr in changed:
        auto = head[addr]
        print(f"<details><summary><code>{addr}</code>: {auto.get('name')}</summary>\n")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(auto, fh, indent=2)
        proc = subprocess.run([args.tocsin, "preview", fh.name], capture_output=True, text=True)
        print("```text")
        print((proc.stdout or proc.stderr).strip() or "(no output)")
        print("```\n</details>\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
