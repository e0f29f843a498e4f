"""`lab ui-check`: reading the run page's text and judging it against the run's steps.

The browser half runs against the live lab in `make lab-smoke`; these tests cover
what it concludes from the text, in the shapes Dagster's run page shows.
"""

from __future__ import annotations

from lab import browser

STEPS = ["generate", "long_step", "summarize"]


def page(status: str = "Success", **sections: list[str]) -> browser.RunPage:
    shown = {"Preparing": [], "Executing": [], "Errored": [], "Succeeded": list(STEPS)} | sections
    return browser.RunPage("Chromium 1", status, shown, {name: len(keys) for name, keys in shown.items()})


def test_a_page_showing_every_step_succeeded_passes() -> None:
    assert browser.problems(page(), STEPS) == []


def test_a_step_missing_from_the_succeeded_list_fails() -> None:
    shown = page(Succeeded=["generate", "summarize"], Errored=["long_step"])
    assert browser.problems(shown, STEPS) == [
        "not listed as succeeded: long_step",
        "the Succeeded section counts 2 steps, the run has 3",
        "1 step(s) under Errored: long_step",
    ]


def test_a_run_not_marked_success_fails_even_with_its_steps_listed() -> None:
    assert browser.problems(page(status="Failure"), STEPS) == ["the run's status tag reads Failure, not Success"]
    assert browser.problems(page(status=""), STEPS) == ["the run's status tag reads nothing, not Success"]


def test_steps_of_another_run_fail() -> None:
    shown = page(Succeeded=[*STEPS, "other_op"])
    assert "listed as succeeded but not steps of the run: other_op" in browser.problems(shown, STEPS)


def test_a_count_that_disagrees_with_the_list_fails() -> None:
    shown = browser.RunPage("Chromium 1", "Success", {"Succeeded": list(STEPS)}, {"Succeeded": 7})
    assert browser.problems(shown, STEPS) == ["the Succeeded section counts 7 steps, the run has 3"]


def test_section_text_yields_step_keys_without_durations() -> None:
    text = "generate\n0:00:01\nsquare_shard_0\n0:00:01\n\nsummarize\n1:02:03\n"
    assert browser.section_steps(text) == ["generate", "square_shard_0", "summarize"]


def test_the_status_tag_is_found_among_the_header_lines() -> None:
    header = "Runs\n/\ne5c75cc8\nSuccess\nRun of \nfan_out_job @ 42b288a0\nNov 24, 3:23:13 PM\n0:00:05"
    assert browser.header_status(header) == "Success"
    assert browser.header_status("Runs\n/\ne5c75cc8\nStarted\n") == "Started"
    assert browser.header_status("Runs\n/\ne5c75cc8\n") == ""


def test_section_titles_match_only_state_and_count() -> None:
    assert browser.SECTION_TITLE.match("Succeeded (7)")
    assert not browser.SECTION_TITLE.match("Succeeded (7) generate")
    assert not browser.SECTION_TITLE.match("Skipped (1)")


def test_the_broker_ui_passes_with_its_administrator_and_a_task_queue() -> None:
    shown = browser.BrokerPage("User dagster-admin", "RabbitMQ 4.0.5", ["dagster", "dagster@node2.celery.pidbox"])
    assert browser.broker_problems(shown, "dagster-admin") == []


def test_the_broker_ui_fails_on_its_login_form_or_without_task_queues() -> None:
    login_form = browser.BrokerPage("", "", [])
    assert browser.broker_problems(login_form, "dagster-admin") == [
        "the UI's header reads '', not User dagster-admin",
        "no task queue listed (only nothing)",
    ]
    transient_only = browser.BrokerPage("User dagster-admin", "", ["celeryev.1", "dagster@node2.celery.pidbox"])
    assert browser.broker_problems(transient_only, "dagster-admin") == [
        "no task queue listed (only celeryev.1, dagster@node2.celery.pidbox)"
    ]
