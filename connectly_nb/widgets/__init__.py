"""Reusable widgets: filter controls and the explorer dashboard."""

from connectly_nb.widgets.dashboard import Dashboard, explore
from connectly_nb.widgets.filters import (
    CampaignFilter,
    DateRangeFilter,
    ErrorCodeFilter,
    FilterPanel,
)

__all__ = [
    "CampaignFilter",
    "Dashboard",
    "DateRangeFilter",
    "ErrorCodeFilter",
    "FilterPanel",
    "explore",
]
