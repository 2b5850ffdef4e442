"""Rolling 12-month windows, as payers count sessions."""
import datetime as dt

from xlsheets.history import rolling_12_months, year_before

D = dt.date


def test_a_session_exactly_a_year_earlier_is_outside_the_window():
    windows = dict(rolling_12_months([D(2025, 3, 10), D(2025, 9, 1), D(2026, 3, 10)]))
    assert windows[D(2026, 3, 10)] == [D(2025, 9, 1), D(2026, 3, 10)]


def test_windows_grow_and_slide_in_date_order_whatever_the_input_order():
    dates = [D(2026, 5, 1), D(2025, 1, 1), D(2025, 6, 1), D(2026, 1, 1), D(2025, 6, 1)]
    assert [(day, len(w)) for day, w in rolling_12_months(dates)] == [
        (D(2025, 1, 1), 1), (D(2025, 6, 1), 2), (D(2026, 1, 1), 2), (D(2026, 5, 1), 3)]


def test_leap_day():
    assert year_before(D(2024, 2, 29)) == D(2023, 2, 28)
    assert dict(rolling_12_months([D(2023, 2, 28), D(2024, 2, 29)]))[D(2024, 2, 29)] == [D(2024, 2, 29)]
