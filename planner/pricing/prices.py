"""Dated prices: GPU-hours by provider (gpu_catalog/data/prices/gpu-hour.json) and hosted APIs per million
tokens (model_catalog/hosted/api-prices.json), each row with its provider, date and source.

A price is only ever used with the row it came from, so every figure the planner prints can say which
price, from whom and of when. The GPU catalog's `price_per_hour_usd` (what `plan --objective cost` ranks
by) is the median of a GPU's on-demand offers here; tests/test_prices.py keeps the two in step.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from planner.errors import PlannerError, did_you_mean


@dataclass(frozen=True)
class GpuOffer:
    gpu: str                 # gpu_catalog id
    provider: str
    offer: str
    kind: str                # "on-demand" | "spot" | "reserved"
    usd_per_gpu_hour: float
    min_gpus: int            # the smallest instance the offer comes in
    date: str
    source: str


@dataclass(frozen=True)
class GpuPrice:
    """The GPU-hour price a calculation used, and where it came from."""

    usd_per_gpu_hour: float
    label: str               # "median of 11 on-demand offers" / "RunPod Community Cloud (on-demand)"
    date: str                # the reading date, or a range "2026-09-20..2026-11-09"
    source: str


@dataclass(frozen=True)
class ApiPrice:
    provider: str
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    date: str | None
    source: str

    @property
    def label(self) -> str:
        return f"{self.provider} {self.model}"


@functools.cache
def gpu_offers() -> tuple[GpuOffer, ...]:
    from importlib import resources  # noqa: PLC0415 - stdlib, but ~10 ms to import: only when prices are read

    raw = json.loads(resources.files("gpu_catalog").joinpath("data/prices/gpu-hour.json").read_text())
    return tuple(GpuOffer(**row) for row in raw["offers"])


@functools.cache
def api_prices() -> tuple[ApiPrice, ...]:
    from importlib import resources  # noqa: PLC0415 - stdlib, but ~10 ms to import: only when prices are read

    raw = json.loads(resources.files("model_catalog").joinpath("hosted/api-prices.json").read_text())
    return tuple(ApiPrice(provider=r["provider"], model=r["model"], input_usd_per_mtok=r["input_usd_per_mtok"],
                          output_usd_per_mtok=r["output_usd_per_mtok"], date=r["date"], source=r["source"])
                 for r in raw["prices"])


def _date_range(dates: list[str]) -> str:
    lo, hi = min(dates), max(dates)
    return lo if lo == hi else f"{lo}..{hi}"


def median_on_demand(gpu_id: str) -> GpuPrice | None:
    """The default GPU-hour price: the median of the GPU's on-demand offers (None when it has none)."""
    rows = [o for o in gpu_offers() if o.gpu == gpu_id and o.kind == "on-demand"]
    if not rows:
        return None
    providers = sorted({o.provider for o in rows})
    label = (f"{rows[0].provider} {rows[0].offer} (on-demand)" if len(rows) == 1
             else f"median of {len(rows)} on-demand offers ({', '.join(providers)})")
    import statistics  # noqa: PLC0415 - stdlib, but it imports random, fractions and decimal: only when a price is read

    return GpuPrice(round(statistics.median(o.usd_per_gpu_hour for o in rows), 4), label,
                    _date_range([o.date for o in rows]), "gpu_catalog/data/prices/gpu-hour.json")


def gpu_price(gpu_id: str, *, provider: str | None = None, kind: str = "on-demand") -> GpuPrice:
    """The price of one GPU-hour of `gpu_id`: a provider's offer (its cheapest of that kind), else the median."""
    if kind not in ("on-demand", "spot", "reserved"):
        raise PlannerError(f"--price-kind must be on-demand, spot or reserved, got {kind!r}")
    if provider is None and kind == "on-demand":
        med = median_on_demand(gpu_id)
        if med is None:
            raise PlannerError(f"no price for {gpu_id} in the price catalog", code="no_price",
                               hint="give one with --gpu-price USD_PER_GPU_HOUR")
        return med
    rows = [o for o in gpu_offers() if o.gpu == gpu_id and o.kind == kind
            and (provider is None or o.provider.lower() == provider.lower())]
    if not rows:
        known = sorted({o.provider for o in gpu_offers() if o.gpu == gpu_id})
        what = f"{provider} {kind}" if provider else kind
        hint = f"providers with {gpu_id} prices: {', '.join(known)}" if known else "give --gpu-price"
        raise PlannerError(f"no {what} price for {gpu_id} in the price catalog", code="no_price", hint=hint)
    best = min(rows, key=lambda o: o.usd_per_gpu_hour)
    note = f", from {best.min_gpus} GPUs" if best.min_gpus > 1 else ""
    return GpuPrice(best.usd_per_gpu_hour, f"{best.provider} {best.offer} ({best.kind}{note})", best.date,
                    best.source)


def api_price(name: str, *, provider: str | None = None) -> ApiPrice:
    """A hosted model's price by its model id (case-insensitive; `provider/model` or the bare id)."""
    want = name.strip().lower()
    hits = [p for p in api_prices() if p.model.lower() == want or p.model.lower().rsplit("/", 1)[-1] == want]
    if provider is not None:
        hits = [p for p in hits if p.provider.lower() == provider.lower()]
    if not hits:
        names = sorted({p.model for p in api_prices()})
        raise PlannerError(f"--api {name}: not in the price catalog", code="unknown_api",
                           hint=did_you_mean(name, names) or "give prices with --api-price IN,OUT (USD per 1M tokens)")
    if len({p.provider for p in hits}) > 1:
        raise PlannerError(f"--api {name}: priced by several providers ({', '.join(sorted(p.provider for p in hits))})",
                           code="ambiguous_api", hint="pick one with --api-provider")
    return hits[0]


def default_price_fields(gpu_id: str) -> dict[str, float | str | None]:
    """The GPU catalog's price fields for `gpu_id` as the offers give them (see tools/sync_gpu_prices.py)."""
    med = median_on_demand(gpu_id)
    if med is None:
        return {"price_per_hour_usd": None, "price_date": None, "price_source": None}
    urls: list[str] = []
    for o in gpu_offers():
        if o.gpu == gpu_id and o.kind == "on-demand":
            for word in o.source.replace("(", " ").replace(")", " ").split():
                if word.startswith("https://") and word not in urls:
                    urls.append(word)
    where = f" ({', '.join(urls)})" if urls else ""
    return {"price_per_hour_usd": med.usd_per_gpu_hour, "price_date": med.date.split("..")[-1],
            "price_source": f"{med.label}, read {med.date}; offers in gpu_catalog/data/prices/gpu-hour.json{where}"}
