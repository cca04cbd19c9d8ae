"""The price table: what a GB costs at each Log Analytics plan and with Sentinel.

Defaults are list prices for an East US-type region in USD, pay-as-you-go, as compiled in
the project's Azure reference (``azure-ingestion.md`` §8, figures dated 2026): prices move
and differ by region and currency, so every figure is a config key (``reduce.prices``)
and every report says which table it used.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = "USD"
    #: when and where the figures were read, printed with every estimate
    as_of: str = "2026 list prices (monitoringcost.com 'Azure Monitor cost 2026')"
    #: per GB ingested
    analytics_per_gb: float = Field(2.30, ge=0)
    basic_per_gb: float = Field(0.50, ge=0)
    auxiliary_per_gb: float = Field(0.05, ge=0)
    #: Microsoft Sentinel's classic add-on on top of an Analytics-plan workspace
    sentinel_per_gb: float = Field(2.00, ge=0)
    #: GB per workspace and month that Analytics ingestion does not charge for
    free_gb_per_month: float = Field(5.0, ge=0)
    #: days per month in monthly figures
    days_per_month: float = Field(30.4, gt=0)


PLANS: tuple[str, ...] = ("analytics", "basic", "auxiliary", "analytics+sentinel")


def monthly(table: PriceTable, gb_per_day: float) -> dict[str, float]:
    """Monthly price of ingesting ``gb_per_day`` at each plan (retention not included)."""
    gb = gb_per_day * table.days_per_month
    analytics = max(0.0, gb - table.free_gb_per_month) * table.analytics_per_gb
    return {
        "analytics": analytics,
        "basic": gb * table.basic_per_gb,
        "auxiliary": gb * table.auxiliary_per_gb,
        "analytics+sentinel": analytics + gb * table.sentinel_per_gb,
    }
