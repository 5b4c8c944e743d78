"""Scoring releases the GIL: another Python thread keeps running while a long score call is in progress.

The counter thread sleeps briefly between increments, so it gives the GIL back at once and only needs it for
a moment; if the score call held the GIL for its whole duration, the counter could not advance until it
returned (it can advance at most once or twice around the call's edges)."""

from __future__ import annotations

import threading

import bertscore_rs


def test_counter_thread_runs_during_score(wmt_pairs) -> None:
    hyps, refs = (texts[:600] for texts in wmt_pairs)
    hyps, refs = list(hyps), list(refs)
    scorer = bertscore_rs.BERTScorer()  # all-MiniLM-L6-v2
    stop = threading.Event()
    ticks = [0]

    def count() -> None:
        while not stop.is_set():
            ticks[0] += 1
            stop.wait(0.0005)

    thread = threading.Thread(target=count, daemon=True)
    thread.start()
    try:
        while ticks[0] == 0:
            stop.wait(0.001)
        before = ticks[0]
        P, R, F = scorer.score(hyps, refs)
        during = ticks[0] - before
    finally:
        stop.set()
        thread.join()
    assert len(F) == len(hyps)
    assert during >= 50, f"the counter advanced {during} times while scoring {len(hyps)} pairs"


def test_two_threads_score_at_once_with_one_model() -> None:
    scorer = bertscore_rs.BERTScorer()
    cands, refs = ["the cat sat on the mat"] * 200, ["a cat was on the mat"] * 200
    expected = scorer.score(cands, refs)
    results = [None, None]

    def run(i: int) -> None:
        results[i] = scorer.score(cands, refs)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result in results:
        assert result is not None
        for a, b in zip(result, expected):
            assert (a == b).all()
