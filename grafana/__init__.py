"""Dashboards and provisioning as code: the operations-room Grafana, built with the Grafana
Foundation SDK from the project's own data (registry, alert rules, index tables)."""
