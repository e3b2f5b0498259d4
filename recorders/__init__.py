"""Recording market transitions to Parquet."""
