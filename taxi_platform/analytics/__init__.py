"""The analytics layer: marts built with SQL inside the warehouses from the trip and zone tables."""

from taxi_platform.analytics.assets import ANALYTICS_GROUP, analytics_keys, build_analytics_assets

__all__ = ["ANALYTICS_GROUP", "analytics_keys", "build_analytics_assets"]
