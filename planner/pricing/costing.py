"""Self-hosting against a hosted API: pure arithmetic over a capacity (requests/s one replica sustains) and prices.

Self-hosted monthly cost = replicas x GPUs per replica x $/GPU-hour x hours per month + fixed monthly costs,
where replicas = ceil(peak request rate / per-replica rate) and the peak is the month's average rate times
the peak-to-average ratio (traffic is not flat). The API's cost = requests x (input tokens x input price +
output tokens x output price). This is the comparison people write by hand; it has no fitted constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_MONTH = 720.0
MAX_BREAK_EVEN = 1e18             # requests a month: beyond it, break_even_requests answers None (never)
# The volumes of the comparison table (requests per month), as people tabulate them.
VOLUMES = (100_000, 500_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000, 100_000_000)


@dataclass(frozen=True)
class CostModel:
    per_replica_rate: float        # requests/s one replica sustains (from the perf model)
    gpus_per_replica: int
    gpu_hourly_usd: float
    api_input_usd_per_mtok: float
    api_output_usd_per_mtok: float
    input_len: int
    output_len: int
    hours_per_month: float = HOURS_PER_MONTH
    fixed_monthly_usd: float = 0.0
    peak_to_average: float = 2.0

    @property
    def api_usd_per_request(self) -> float:
        return (self.input_len * self.api_input_usd_per_mtok + self.output_len * self.api_output_usd_per_mtok) / 1e6

    @property
    def replica_monthly_usd(self) -> float:
        return self.gpus_per_replica * self.gpu_hourly_usd * self.hours_per_month

    def peak_rate(self, requests_per_month: float) -> float:
        """Requests/s at the peak of a month with this many requests."""
        return requests_per_month / (self.hours_per_month * 3600.0) * self.peak_to_average

    def replicas(self, requests_per_month: float) -> int:
        """Replicas that carry the peak (at least one: a deployment that is up costs its GPUs)."""
        need = self.peak_rate(requests_per_month) / self.per_replica_rate
        return max(1, math.ceil(need - 1e-9))

    def self_hosted_monthly(self, requests_per_month: float) -> float:
        return self.replicas(requests_per_month) * self.replica_monthly_usd + self.fixed_monthly_usd

    def api_monthly(self, requests_per_month: float) -> float:
        return requests_per_month * self.api_usd_per_request

    def capacity_per_month(self, replicas: int) -> float:
        """The most requests per month `replicas` carry at the peak-to-average ratio."""
        return replicas * self.per_replica_rate * self.hours_per_month * 3600.0 / self.peak_to_average

    def break_even_requests(self, max_replicas: int = 100_000) -> int | None:
        """The smallest monthly volume from which self-hosting costs no more than the API; None if never.

        Self-hosted cost is a step in the replica count: within the volumes that k replicas carry, the API
        catches up at cost(k) / API price per request. None when the API is cheaper even at a full replica.
        """
        apr = self.api_usd_per_request
        if apr <= 0:
            return None
        lo = 0.0
        for k in range(1, max_replicas + 1):
            hi = self.capacity_per_month(k)
            catch_up = (k * self.replica_monthly_usd + self.fixed_monthly_usd) / apr - 1e-9
            if not catch_up <= MAX_BREAK_EVEN:
                # Past 10^18 requests a month (an API price of a fraction of a cent per billion tokens): no
                # break-even worth a number (and a ceil of an infinite quotient would raise).
                return None
            v = max(math.ceil(lo) if k > 1 else 0, math.ceil(catch_up))
            if v <= hi:
                return int(v)
            # The k-th replica's added volume never pays for itself: the API stays cheaper from here on,
            # since each further replica adds the same cost and the same volume.
            if (hi - lo) * apr < self.replica_monthly_usd and k > 1:
                return None
            lo = hi
        return None


@dataclass(frozen=True)
class VolumeRow:
    requests_per_month: int
    replicas: int
    self_hosted_monthly_usd: float
    api_monthly_usd: float

    @property
    def savings_monthly_usd(self) -> float:
        return self.api_monthly_usd - self.self_hosted_monthly_usd


def volume_table(m: CostModel, extra: tuple[int, ...] = ()) -> list[VolumeRow]:
    vols = sorted({*VOLUMES, *extra})
    return [VolumeRow(v, m.replicas(v), m.self_hosted_monthly(v), m.api_monthly(v)) for v in vols]


def usd_per_million_output_tokens(monthly_usd: float, requests_per_month: float, output_len: int) -> float | None:
    tokens = requests_per_month * output_len
    return monthly_usd / tokens * 1e6 if tokens > 0 else None
