"""The field drills' measurement, without hosts."""

from tests.field.probe import longest_gap, parse


def test_longest_gap_counts_from_start_to_end_between_answers() -> None:
    samples = parse("10.0 ok\n10.2 fail\n10.4 fail\n13.1 ok\n13.3 ok\n13.5 o")
    assert samples == [(10.0, True), (10.2, False), (10.4, False), (13.1, True), (13.3, True)]
    assert round(longest_gap(samples, 9.9, 13.4), 2) == 3.1


def test_no_answer_at_all_is_the_whole_window() -> None:
    assert longest_gap([(1.0, False), (2.0, False)], 0.5, 3.0) == 2.5


def test_silence_before_the_first_and_after_the_last_answer_counts() -> None:
    assert longest_gap([(5.0, True)], 0.0, 6.0) == 5.0
    assert longest_gap([(1.0, True)], 0.5, 9.0) == 8.0
