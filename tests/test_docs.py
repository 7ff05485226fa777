"""The docs stay true: generated reference pages match the code, links resolve, cookbook JSON is verified.

- docs/constructs.md, docs/provider.md and docs/api.md are re-generated in memory (scripts/gen_docs.py) and must
  equal the committed files;
- every relative link in docs/*.md and README.md points to an existing file;
- every trigger JSON block in docs/cookbook.md tagged `<!-- scenario: FILE#NAME -->` equals the trigger of that
  scenario in tests/scenarios/ (which `tocsin test` proves), and every tagged scenario exists.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
TAGGED = re.compile(r"<!-- scenario: ([^#\s]+)#(\S+) -->\s*```json\n(.*?)```", re.S)


def _gen_docs():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_pages_are_up_to_date() -> None:
    stale = [path.name for path, text in _gen_docs().render_all().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"out of date: {stale}; run `python scripts/gen_docs.py` and commit the result"


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_every_relative_link_points_to_an_existing_file(doc: Path) -> None:
    text = FENCE.sub("", doc.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)} links to missing files: {broken}"


def test_cookbook_trigger_json_is_the_verified_scenario_trigger() -> None:
    text = (ROOT / "docs" / "cookbook.md").read_text()
    tagged = TAGGED.findall(text)
    assert len(tagged) >= 5, "the cookbook should pull its trigger JSON from tests/scenarios/"
    loaded: dict[str, dict[str, object]] = {}
    for file, name, block in tagged:
        if file not in loaded:
            loaded[file] = {s["name"]: s for s in yaml.safe_load((ROOT / file).read_text())}
        assert name in loaded[file], f"cookbook refers to a scenario {file}#{name} that does not exist"
        assert json.loads(block) == loaded[file][name]["trigger"], f"cookbook JSON for {name} differs from {file}"
