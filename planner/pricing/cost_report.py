"""`planner cost`'s answer: a CostModel (planner.pricing.costing) filled from a Capacity
(planner.performance.capacity) and dated
prices (planner.pricing.prices), with every figure the command prints. Pure: no I/O, no rendering.

Self-hosted monthly cost = replicas x GPUs per replica x $/GPU-hour x hours per month + fixed monthly;
replicas = ceil(average rate x peak-to-average / per-replica rate), at least one. API monthly cost =
requests x (input tokens x input $/1M + output tokens x output $/1M) / 1e6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.performance.capacity import Capacity
from planner.pricing.costing import CostModel, VolumeRow, usd_per_million_output_tokens, volume_table
from planner.pricing.prices import ApiPrice, GpuPrice


@dataclass(frozen=True)
class CostReport:
    model: CostModel
    requests_per_month: int
    gpu_price: GpuPrice
    api: ApiPrice
    capacity: Capacity | None          # None when the per-replica rate was given (--per-replica-rate)
    rate_source: str                   # how the per-replica rate was found, in words
    volumes: tuple[VolumeRow, ...]

    @property
    def replicas(self) -> int:
        return self.model.replicas(self.requests_per_month)

    @property
    def gpus(self) -> int:
        return self.replicas * self.model.gpus_per_replica

    @property
    def api_monthly(self) -> float:
        return self.model.api_monthly(self.requests_per_month)

    @property
    def self_hosted_monthly(self) -> float:
        return self.model.self_hosted_monthly(self.requests_per_month)

    @property
    def savings_monthly(self) -> float:
        return self.api_monthly - self.self_hosted_monthly

    @property
    def break_even(self) -> int | None:
        return self.model.break_even_requests()

    @property
    def peak_rate(self) -> float:
        return self.model.peak_rate(self.requests_per_month)

    @property
    def average_rate(self) -> float:
        return self.requests_per_month / (self.model.hours_per_month * 3600.0)

    @property
    def utilization(self) -> float:
        """The peak load over what the replicas carry."""
        return self.peak_rate / (self.replicas * self.model.per_replica_rate)

    def per_million_output(self, monthly: float) -> float | None:
        return usd_per_million_output_tokens(monthly, self.requests_per_month, self.model.output_len)

    def per_million_total(self, monthly: float) -> float | None:
        tokens = self.requests_per_month * (self.model.input_len + self.model.output_len)
        return monthly / tokens * 1e6 if tokens > 0 else None


def build_report(*, requests_per_month: int, input_len: int, output_len: int, per_replica_rate: float,
                 gpus_per_replica: int, gpu_price: GpuPrice, api: ApiPrice, hours_per_month: float,
                 fixed_monthly_usd: float, peak_to_average: float, capacity: Capacity | None,
                 rate_source: str) -> CostReport:
    m = CostModel(per_replica_rate=per_replica_rate, gpus_per_replica=gpus_per_replica,
                  gpu_hourly_usd=gpu_price.usd_per_gpu_hour, api_input_usd_per_mtok=api.input_usd_per_mtok,
                  api_output_usd_per_mtok=api.output_usd_per_mtok, input_len=input_len, output_len=output_len,
                  hours_per_month=hours_per_month, fixed_monthly_usd=fixed_monthly_usd,
                  peak_to_average=peak_to_average)
    be = m.break_even_requests()
    extra = tuple(v for v in (requests_per_month, be) if v is not None)
    return CostReport(model=m, requests_per_month=requests_per_month, gpu_price=gpu_price, api=api,
                      capacity=capacity, rate_source=rate_source, volumes=tuple(volume_table(m, extra=extra)))


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


GIVEN = "given on the command line"


def gpu_price_date(p: GpuPrice) -> str | None:
    return None if p.source == GIVEN else p.date


def gpu_price_source(p: GpuPrice) -> str:
    if p.source == GIVEN:
        return f"{p.label} (given on the command line)"
    return f"{p.label}, read {p.date}; {p.source}"


def api_price_source(p: ApiPrice) -> str:
    prices = f"${p.input_usd_per_mtok:g} in / ${p.output_usd_per_mtok:g} out per 1M tokens"
    if p.source == GIVEN:
        return f"{p.provider} {prices} (given on the command line)"
    when = f", dated {p.date}" if p.date else ""
    return f"{p.label} ({prices}{when}); {p.source}"


def cost_json(r: CostReport) -> dict[str, Any]:
    """The `cost` block of `planner cost --json`."""
    m = r.model
    return {
        "requests_per_month": r.requests_per_month,
        "input_len": m.input_len, "output_len": m.output_len,
        "api_monthly_usd": _r(r.api_monthly), "self_hosted_monthly_usd": _r(r.self_hosted_monthly),
        "savings_monthly_usd": _r(r.savings_monthly),
        "api_annual_usd": _r(r.api_monthly * 12), "self_hosted_annual_usd": _r(r.self_hosted_monthly * 12),
        "savings_annual_usd": _r(r.savings_monthly * 12),
        "break_even_requests_per_month": r.break_even,
        "replicas": r.replicas, "gpus_per_replica": m.gpus_per_replica, "gpus": r.gpus,
        "gpu_hourly_usd": m.gpu_hourly_usd, "gpu_price_date": gpu_price_date(r.gpu_price),
        "gpu_price_source": gpu_price_source(r.gpu_price),
        "api_input_usd_per_mtok": m.api_input_usd_per_mtok, "api_output_usd_per_mtok": m.api_output_usd_per_mtok,
        "api_usd_per_request": round(m.api_usd_per_request, 8), "api_price_date": r.api.date,
        "api_price_source": api_price_source(r.api),
        "cost_per_million_output_tokens_usd": _r(r.per_million_output(r.self_hosted_monthly), 4),
        "api_cost_per_million_output_tokens_usd": _r(r.per_million_output(r.api_monthly), 4),
        "cost_per_million_tokens_usd": _r(r.per_million_total(r.self_hosted_monthly), 4),
        "api_cost_per_million_tokens_usd": _r(r.per_million_total(r.api_monthly), 4),
        "hours_per_month": m.hours_per_month, "fixed_monthly_usd": m.fixed_monthly_usd,
        "peak_to_average": m.peak_to_average,
        "average_request_rate": round(r.average_rate, 6), "peak_request_rate": round(r.peak_rate, 6),
        "per_replica_request_rate": round(m.per_replica_rate, 4), "per_replica_rate_source": r.rate_source,
        "peak_utilization": round(r.utilization, 4),
        "volumes": [{"requests_per_month": v.requests_per_month, "replicas": v.replicas,
                     "gpus": v.replicas * m.gpus_per_replica,
                     "self_hosted_monthly_usd": _r(v.self_hosted_monthly_usd),
                     "api_monthly_usd": _r(v.api_monthly_usd), "savings_monthly_usd": _r(v.savings_monthly_usd)}
                    for v in r.volumes],
    }
