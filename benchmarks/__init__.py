"""Benchmarks: ``make bench`` runs :mod:`benchmarks.crawl_benchmark`."""
