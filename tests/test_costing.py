"""planner.pricing.costing: the hand comparison of self-hosting and a hosted API, exactly."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from planner.pricing.costing import CostModel, volume_table


def _model(**kw: float) -> CostModel:
    base = dict(per_replica_rate=5.0, gpus_per_replica=1, gpu_hourly_usd=1.0, api_input_usd_per_mtok=2.5,
                api_output_usd_per_mtok=10.0, input_len=700, output_len=100, hours_per_month=720.0,
                fixed_monthly_usd=0.0, peak_to_average=2.0)
    base.update(kw)
    return CostModel(**base)  # type: ignore[arg-type]


def test_break_even_of_a_hand_comparison() -> None:
    # $727 a month self-hosted (one replica at $727/720 per hour) against $0.00275 per request
    # (700 in x $2.5/M + 100 out x $10/M): 727 / 0.00275 = 264,363.6 -> 264,364 requests per month.
    m = _model(gpu_hourly_usd=727 / 720)
    assert math.isclose(m.api_usd_per_request, 0.00275)
    assert math.isclose(m.self_hosted_monthly(100_000), 727.0)
    assert m.break_even_requests() == 264_364
    assert m.api_monthly(264_364) >= m.self_hosted_monthly(264_364)
    assert m.api_monthly(264_363) < m.self_hosted_monthly(264_363)


def test_replicas_follow_the_peak() -> None:
    m = _model(per_replica_rate=1.0, peak_to_average=2.0)
    # 1.296M requests/month = 0.5 req/s on average, 1 req/s at peak: one replica; a little more needs two.
    assert m.replicas(1_296_000) == 1
    assert m.replicas(1_296_001) == 2
    assert _model(per_replica_rate=1.0, peak_to_average=1.0).replicas(2_592_000) == 1


def test_fixed_costs_move_the_break_even() -> None:
    m0, m1 = _model(), _model(fixed_monthly_usd=270.0)
    assert m1.break_even_requests() == math.ceil((720 + 270) / m1.api_usd_per_request - 1e-9)
    assert m1.break_even_requests() > m0.break_even_requests()  # type: ignore[operator]


def test_never_breaks_even_when_a_full_replica_costs_more_than_the_api() -> None:
    # One replica carries 0.01 req/s x 2.592M s / 2 = 12,960 requests a month: $12.96 of API, for $720 of GPU.
    m = _model(per_replica_rate=0.01, api_input_usd_per_mtok=0.1, api_output_usd_per_mtok=0.1)
    assert m.break_even_requests() is None


def test_volume_table_has_the_usual_volumes_and_the_users() -> None:
    rows = volume_table(_model(), extra=(777_000,))
    vols = [r.requests_per_month for r in rows]
    assert vols == sorted(vols) and 777_000 in vols and 100_000 in vols and 100_000_000 in vols
    assert all(r.replicas >= 1 for r in rows)


@given(st.floats(0.01, 100), st.integers(1, 8), st.floats(0.1, 10), st.floats(0.01, 20), st.floats(0.01, 60),
       st.integers(1, 8000), st.integers(1, 4000), st.floats(0, 5000), st.floats(1, 5))
def test_break_even_is_where_the_api_stops_being_cheaper(rate: float, gpus: int, hourly: float, pin: float,
                                                         pout: float, lin: int, lout: int, fixed: float,
                                                         p2a: float) -> None:
    m = CostModel(rate, gpus, hourly, pin, pout, lin, lout, 720.0, fixed, p2a)
    v = m.break_even_requests(max_replicas=2000)
    if v is None:
        return
    assert m.api_monthly(v) >= m.self_hosted_monthly(v) - 1e-6
    if v > 0:
        assert m.api_monthly(v - 1) < m.self_hosted_monthly(v - 1) + 1e-6
