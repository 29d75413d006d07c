"""Write each GPU catalog entry's default price (price_per_hour_usd, price_date, price_source) from the
dated offers in gpu_catalog/data/prices/gpu-hour.json: the median of its on-demand offers.

Run after editing the offers: `python tools/sync_gpu_prices.py`. tests/test_prices.py fails when the two differ.
"""

from __future__ import annotations

import json
from pathlib import Path

from planner.pricing.prices import default_price_fields

DATA = Path(__file__).resolve().parents[1] / "gpu_catalog" / "data"


def main() -> None:
    for path in sorted(DATA.glob("*.json")):
        entry = json.loads(path.read_text())
        fields = default_price_fields(entry["id"])
        if all(entry.get(k) == v for k, v in fields.items()):
            continue
        entry.update(fields)
        path.write_text(json.dumps(entry, indent=2, ensure_ascii=False) + "\n")
        print(f"{path.name}: {fields['price_per_hour_usd']}")


if __name__ == "__main__":
    main()
