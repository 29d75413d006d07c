"""The dated price catalogs: every figure has a provider, a date and a source, and the GPU catalog's
default price is the median of the GPU's on-demand offers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import gpu_catalog
from planner.errors import PlannerError
from planner.pricing.prices import api_price, api_prices, default_price_fields, gpu_offers, gpu_price

ROOT = Path(__file__).resolve().parents[1]


def test_every_offer_is_dated_and_sourced_and_names_a_catalog_gpu() -> None:
    ids = set(gpu_catalog.all_gpus())
    assert len(gpu_offers()) >= 40
    for o in gpu_offers():
        assert o.gpu in ids, o
        assert o.kind in ("on-demand", "spot", "reserved")
        assert 0 < o.usd_per_gpu_hour < 100 and o.min_gpus >= 1
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", o.date), o
        assert "https://" in o.source or "stored copy" in o.source, o


def test_every_api_price_is_sourced() -> None:
    assert len(api_prices()) >= 40
    for p in api_prices():
        assert p.input_usd_per_mtok > 0 and p.output_usd_per_mtok > 0
        assert "https://" in p.source


@pytest.mark.parametrize("path", sorted((ROOT / "gpu_catalog" / "data").glob("*.json")), ids=lambda p: p.stem)
def test_gpu_catalog_prices_are_the_offers_median(path: Path) -> None:
    entry = json.loads(path.read_text())
    want = default_price_fields(entry["id"])
    got = {k: entry.get(k) for k in want}
    assert got == want, "run `python tools/sync_gpu_prices.py`"


def test_median_and_provider_prices() -> None:
    med = gpu_price("H100-SXM-80GB")
    assert med.label.startswith("median of") and med.usd_per_gpu_hour == gpu_catalog.resolve("H100").price_per_hour_usd
    rp = gpu_price("H100-SXM-80GB", provider="runpod")
    assert rp.usd_per_gpu_hour == 2.69 and "RunPod" in rp.label     # the cheaper of its two readings
    spot = gpu_price("H100-SXM-80GB", kind="spot")
    assert spot.usd_per_gpu_hour == 6.571 and spot.date == "2026-09-26"
    with pytest.raises(PlannerError, match="no Vultr on-demand price") as err:
        gpu_price("H100-SXM-80GB", provider="Vultr")
    assert "RunPod" in (err.value.hint or "")
    with pytest.raises(PlannerError, match="no price for T4-16GB"):
        gpu_price("T4-16GB")


def test_api_lookup() -> None:
    p = api_price("gpt-4o")
    assert (p.provider, p.input_usd_per_mtok, p.output_usd_per_mtok) == ("OpenAI", 2.5, 10)
    assert api_price("GPT-4O-MINI").output_usd_per_mtok == 0.6
    with pytest.raises(PlannerError, match="several providers"):
        api_price("openai/gpt-oss-120b")
    assert api_price("openai/gpt-oss-120b", provider="groq").input_usd_per_mtok == 0.15
    with pytest.raises(PlannerError, match="not in the price catalog") as err:
        api_price("gpt-4x")
    assert "gpt-4" in (err.value.hint or "")
