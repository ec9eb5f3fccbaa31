"""textpipe: news articles in, analysis-ready Parquet out.

The library is plain Python (no Prefect); flows in `textpipe_flows` wire its
stages into Prefect tasks.
"""

__version__ = "0.1.0"
