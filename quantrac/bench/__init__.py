"""Benchmarks that print ratios measured in one run (`quantrac bench …`)."""
