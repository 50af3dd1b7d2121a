"""The micro-batcher: requests that arrive together are predicted in one call."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from mloop.serving._batching import MicroBatcher

calls: list[int] = []


def predict(model: object, frame: pd.DataFrame) -> tuple[np.ndarray, None]:
    calls.append(len(frame))
    if (frame["x"] < 0).any():
        raise ValueError("negative x")
    return frame["x"].to_numpy() * 2, None


def frames(n: int) -> list[pd.DataFrame]:
    return [pd.DataFrame({"x": [i, i + 0.5]}) for i in range(n)]


def test_requests_that_arrive_together_share_one_prediction() -> None:
    calls.clear()
    batcher = MicroBatcher(predict, max_size=1000)

    async def main() -> list[tuple[np.ndarray, None]]:
        return await asyncio.gather(*(batcher.submit(("m", 1), None, f) for f in frames(10)))

    results = asyncio.run(main())
    assert calls == [20]  # one call for 10 requests of 2 rows
    for i, (predictions, _) in enumerate(results):
        assert predictions.tolist() == [2 * i, 2 * i + 1]


def test_max_size_splits_batches_and_a_lone_request_waits_for_nothing() -> None:
    calls.clear()
    batcher = MicroBatcher(predict, max_size=6)

    async def burst() -> None:
        await asyncio.gather(*(batcher.submit(("m", 1), None, f) for f in frames(7)))

    asyncio.run(burst())
    assert calls == [6, 6, 2]

    calls.clear()
    asyncio.run(batcher.submit(("m", 1), None, frames(1)[0]))
    assert calls == [2]


def test_a_bad_request_gets_its_own_error_and_the_others_their_answers() -> None:
    calls.clear()
    batcher = MicroBatcher(predict, max_size=1000)
    inputs = frames(4)
    inputs[2] = pd.DataFrame({"x": [-1.0]})

    async def main() -> list[object]:
        return await asyncio.gather(
            *(batcher.submit(("m", 1), None, f) for f in inputs), return_exceptions=True
        )

    results = asyncio.run(main())
    assert isinstance(results[2], ValueError)
    assert [r[0].tolist() for i, r in enumerate(results) if i != 2] == [  # type: ignore[index]
        [0, 1],
        [2, 3],
        [6, 7],
    ]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_size"):
        MicroBatcher(predict, max_size=0)
    with pytest.raises(ValueError, match="max_wait"):
        MicroBatcher(predict, max_wait=-1)
