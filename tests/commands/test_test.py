"""`tocsin test`: the alert-rule scenario runner, driven as a user would, through its CLI entry point."""

import io
import textwrap
from pathlib import Path


from tocsin.cli import main
from tocsin.commands.test import run_paths

GOOD = """
- name: three failures in a day page once
  source: seed 004
  trigger: {expect: [prefect.flow-run.Failed], posture: Reactive, threshold: 3, within: 86400,
            for_each: [prefect.resource.id]}
  events:
    - {occurred: "2026-01-01T00:00:00Z", event: prefect.flow-run.Failed, resource: {prefect.resource.id: f1}}
    - {occurred: "2026-01-01T01:00:00Z", event: prefect.flow-run.Failed, resource: {prefect.resource.id: f1}}
    - {occurred: "2026-01-01T02:00:00Z", event: prefect.flow-run.Failed, resource: {prefect.resource.id: f1}}
  expect_firings:
    - {at: "2026-01-01T02:00:00Z", bucket: {prefect.resource.id: f1}, triggering_event: 2}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(*paths) -> tuple[int, str]:
    out = io.StringIO()
    code = run_paths([str(p) for p in paths], out=out)
    return code, out.getvalue()


def test_a_passing_file_ends_with_the_summary_line_and_exit_zero(tmp_path):
    code, out = run(write(tmp_path, "a.yaml", GOOD))
    assert code == 0
    assert out.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_a_failing_scenario_prints_expected_and_actual_firings(tmp_path):
    path = write(tmp_path, "a.yaml", GOOD.replace('triggering_event: 2}', 'triggering_event: 1}'))
    code, out = run(path)
    assert code == 1
    assert "FAIL" in out and "three failures in a day page once" in out
    assert "expected firings:\n    at=2026-01-01T02:00:00+00:00 bucket={\"prefect.resource.id\": \"f1\"} triggering_event=1" in out
    assert "actual firings:\n    at=2026-01-01T02:00:00+00:00 bucket={\"prefect.resource.id\": \"f1\"} triggering_event=2" in out
    assert out.strip().endswith("0 passed, 1 failed")


def test_an_invalid_trigger_names_the_file_and_the_field(tmp_path):
    path = write(tmp_path, "bad.yaml", GOOD.replace("posture: Reactive, threshold: 3, within: 86400",
                                                    "posture: Proactive, threshold: 3, within: 5"))
    code, out = run(path)
    assert code == 1
    assert f"ERROR {path}: [0] 'three failures in a day page once'.trigger.within: a Proactive trigger needs" in out


def test_a_scenario_without_events_is_rejected_with_the_field(tmp_path):
    path = write(tmp_path, "bad.yaml", "- {name: x, trigger: {expect: [a]}, expect_firings: []}\n")
    code, out = run(path)
    assert code == 1 and "[0] 'x'.events: Field required" in out


def test_unparseable_yaml_is_an_error_not_a_crash(tmp_path):
    code, out = run(write(tmp_path, "bad.yaml", "- name: [unclosed\n"))
    assert code == 1 and "cannot read scenarios" in out


def test_json_files_and_directories_are_accepted(tmp_path):
    import json, yaml
    write(tmp_path, "a.json", json.dumps(yaml.safe_load(GOOD)))
    write(tmp_path, "b.yml", GOOD)
    code, out = run(tmp_path)
    assert code == 0 and out.strip().endswith("2 passed, 0 failed")


def test_unexpected_extra_firings_fail_the_scenario(tmp_path):
    text = GOOD.replace("threshold: 3", "threshold: 1").replace("within: 86400", "within: 0")
    code, out = run(write(tmp_path, "a.yaml", text))
    assert code == 1 and out.count("at=2026-01-01T0") == 4  # 1 expected + 3 actual


def test_evaluate_at_ticks_judge_proactive_windows_only_when_they_run(tmp_path):
    text = """
    - name: silence judged at the next tick, not at the deadline
      trigger: {after: [start], expect: [done], posture: Proactive, threshold: 1, within: 60}
      events:
        - {occurred: "2026-01-01T00:00:00Z", event: start, resource: {prefect.resource.id: r}}
      evaluate_at: ["2026-01-01T00:00:30Z", "2026-01-01T00:01:45Z"]
      expect_firings:
        - {at: "2026-01-01T00:01:45Z", bucket: {}, triggering_event: 0}
    """
    code, out = run(write(tmp_path, "a.yaml", text))
    assert code == 0, out


def test_follows_may_name_an_event_by_index_and_is_honoured(tmp_path):
    text = """
    - name: follower held until its leader
      trigger: {expect: [a, b], posture: Reactive, threshold: 1}
      events:
        - {occurred: "2026-01-01T00:00:01Z", event: b, resource: {prefect.resource.id: r}, follows: 1}
        - {occurred: "2026-01-01T00:00:00Z", event: a, resource: {prefect.resource.id: r}, received: "2026-01-01T00:00:05Z"}
      expect_firings:
        - {at: "2026-01-01T00:00:05Z", triggering_event: 1}
        - {at: "2026-01-01T00:00:05Z", triggering_event: 0}
    """
    code, out = run(write(tmp_path, "a.yaml", text))
    assert code == 0, out


def test_the_console_entry_point_runs_the_test_command(tmp_path, capsys):
    assert main(["test", str(write(tmp_path, "a.yaml", GOOD))]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_no_files_found_is_an_error(tmp_path):
    code, out = run(tmp_path)
    assert code == 2 and "no scenario files" in out
