"""taxi_platform: NYC TLC taxi trips as monthly-partitioned Dagster assets."""
