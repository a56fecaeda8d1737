"""Delivery: what carries the collector's data to somewhere else once it is durable (the spool
into the database, alerts and integrations out of their outboxes), with the one back-off and the
rules for connections that carry a secret. The plugins it delivers through stay in their own
packages (sinks/, camera/, egov/), where plugin discovery finds them (README.md)."""
