"""Station status and event messages → `device` points."""
