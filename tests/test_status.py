from om_dagster.core.status import Status, judge, render_summary


def status(records=0, failures=0, warnings=0, step="source:x"):
    s = Status(step)
    s.scanned(records)
    for i in range(failures):
        s.failed(f"t{i}", "boom")
    for i in range(warnings):
        s.warning(f"w{i}", "odd")
    return s


def test_failures_below_threshold_fail_the_run_under_raise_on_error():
    outcome = judge([status(records=8, failures=2)], success_threshold=90, raise_on_error=True)
    assert outcome.state == "failed" and outcome.fail_run
    assert "source:x" in outcome.reason and "2 failures" in outcome.reason


def test_without_raise_on_error_the_state_is_failed_but_the_run_is_not():
    outcome = judge([status(records=8, failures=2)], success_threshold=90, raise_on_error=False)
    assert outcome.state == "failed" and not outcome.fail_run


def test_failures_within_threshold_are_a_partial_success():
    outcome = judge([status(records=99, failures=1)], success_threshold=90, raise_on_error=True)
    assert outcome.state == "partialSuccess" and not outcome.fail_run


def test_warnings_never_fail_a_run():
    outcome = judge([status(records=1, warnings=50)], success_threshold=100, raise_on_error=True)
    assert outcome.state == "success" and not outcome.fail_run


def test_a_failing_later_step_fails_the_run():
    outcome = judge([status(records=10), status(records=1, failures=5, step="sink:y")], 90, True)
    assert outcome.fail_run and "sink:y" in outcome.reason


def test_counts_stay_exact_while_kept_reasons_are_capped():
    s = status(failures=5000)
    assert s.failure_count == 5000 and len(s.failures) == 1000
    assert Status.from_dict(s.as_dict()).failure_count == 5000


def test_summary_names_failed_entities_and_the_result():
    s = status(records=3, failures=1)
    text = render_summary([s], judge([s], 90, True))
    assert "failed t0: boom" in text and "Workflow result: failed" in text


def test_names_with_control_characters_keep_the_summary_one_line_each():
    s = Status("sink:x")
    s.scanned(3)
    s.failed("svc.db.sch.bad\nname", "refused:\tno\r")
    summary = render_summary([s], judge([s], success_threshold=0, raise_on_error=False))
    assert "    failed svc.db.sch.bad\\nname: refused:\\tno\\r" in summary.splitlines()
    assert len(summary.splitlines()) == 4
