"""The tables built from the records the crawl reads: their catalogue, the frames, the
reply times and the metrics.

Above the client and the crawl; imports pandas, never Dagster.
"""
