"""Validate: protocol-v1 data messages → readings, or a rejection naming what is wrong."""
