"""The synthetic load of `shift --load`: counted by status code, bounded, a quarter with the canary header."""

from __future__ import annotations

import threading

from kubectl_canary.load import CANARY, PLAIN, Load, Tally


def test_load_counts_answers_by_code_and_stops_at_its_limit() -> None:
    seen: list[dict[str, str]] = []
    done = threading.Event()

    def send(url: str, headers: dict[str, str]) -> int:
        seen.append(headers)
        if len(seen) >= 40:
            done.set()
        return 500 if "stage" in headers else 200

    load = Load("http://gw/podinfo", 1000.0, [("x-test", "1")], ("stage", "canary"), host="podinfo.local",
                limit=40, send=send)
    load.start()
    assert done.wait(10)
    load.stop()
    totals = load.totals()
    assert totals[PLAIN].codes == {200: 30} and totals[CANARY].codes == {500: 10}
    assert totals[CANARY].failed == 10 and totals[PLAIN].failed == 0
    assert all(h["Host"] == "podinfo.local" and h["x-test"] == "1" for h in seen)
    assert load.take()[CANARY].sent == 10 and load.take()[CANARY].sent == 0  # take() starts counting anew


def test_tally_counts_no_answer_as_a_failure() -> None:
    tally = Tally()
    tally.codes.update({200: 3, 0: 1, 503: 2, 404: 1})
    assert (tally.sent, tally.failed) == (7, 3)
    assert tally.describe() == "7 sent, 3 failed (no answer: 1, 200: 3, 404: 1, 503: 2)"
