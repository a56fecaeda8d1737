"""InfluxQL for the Grafana Foundation SDK: a dataquery model and builder for Grafana's InfluxDB
data source (InfluxQL mode), registered with the SDK's runtime so `Dashboard.from_json` reads
our targets back, and a small composer for the statements themselves.

The SDK ships query models for Prometheus, Loki and others but none for InfluxDB; this module
is that missing piece, shaped like the SDK's own (`to_json`, `from_json`, a fluent builder).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

from collector.retention import shipped as shipped_retention

# the query vocabulary the builders import from here: `ident(tag)`, `text(value)`
from quantrac_common.influxql import quote_ident as ident
from quantrac_common.influxql import quote_string as text

DATASOURCE_TYPE = "influxdb"
DATASOURCE_UID = "quantrac-influxdb"  # the provisioned data source (grafana/provisioning/)
RESULT_FORMATS = ("time_series", "table", "logs")

# model attribute → JSON key, in the order Grafana writes them
KEYS = (("ref_id", "refId"), ("datasource", "datasource"), ("query", "query"),
        ("raw_query", "rawQuery"), ("result_format", "resultFormat"), ("alias", "alias"),
        ("hide", "hide"), ("from_annotations", "fromAnnotations"),
        ("text_column", "textColumn"), ("tags_column", "tagsColumn"),
        ("title_column", "titleColumn"), ("time_end_column", "timeEndColumn"))


def datasource() -> dashboard.DataSourceRef:
    return dashboard.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class InfluxQuery(cogvariants.Dataquery):
    """One InfluxQL target (raw query mode) as Grafana's InfluxDB data source stores it."""

    def __init__(self, ref_id: str = "", datasource: dashboard.DataSourceRef | None = None,
                 query: str = "", raw_query: bool | None = True,
                 result_format: str | None = None, alias: str | None = None,
                 hide: bool | None = None, from_annotations: bool | None = None,
                 text_column: str | None = None, tags_column: str | None = None,
                 title_column: str | None = None, time_end_column: str | None = None) -> None:
        self.ref_id = ref_id
        self.datasource = datasource
        self.query = query
        self.raw_query = raw_query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide
        self.from_annotations = from_annotations
        self.text_column = text_column
        self.tags_column = tags_column
        self.title_column = title_column
        self.time_end_column = time_end_column

    def to_json(self) -> dict[str, object]:
        return {key: getattr(self, attr) for attr, key in KEYS
                if getattr(self, attr) is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        args = {attr: data[key] for attr, key in KEYS if key in data}
        if "datasource" in args:
            args["datasource"] = dashboard.DataSourceRef.from_json(args["datasource"])
        return cls(**args)


class InfluxQueryBuilder(cogbuilder.Builder[InfluxQuery]):
    """`InfluxQueryBuilder(statement).table().alias("$tag_station")`"""

    def __init__(self, query: str = "", ref_id: str = "") -> None:
        self._internal = InfluxQuery(ref_id=ref_id, datasource=datasource(), query=query)

    def build(self) -> InfluxQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def query(self, query: str) -> Self:
        self._internal.query = query
        return self

    def table(self) -> Self:
        self._internal.result_format = "table"
        return self

    def time_series(self) -> Self:
        self._internal.result_format = "time_series"
        return self

    def alias(self, alias: str) -> Self:
        """Series name; `$tag_station`, `$col` as Grafana substitutes them."""
        self._internal.alias = alias
        return self

    def annotation(self, text_column: str, tags_column: str = "") -> Self:
        """Use as a dashboard annotation query: text from `text_column`, tags from the
        comma-separated `tags_column` columns."""
        q = self._internal
        q.from_annotations, q.text_column = True, text_column
        q.tags_column = tags_column or None
        return self


def variant_config() -> cogruntime.DataqueryConfig:
    return cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE,
                                      from_json_hook=InfluxQuery.from_json)


def register() -> None:
    """Teach the SDK's runtime to read InfluxDB targets (and its own panel options) back."""
    from grafana_foundation_sdk.cog.plugins import register_default_plugins

    register_default_plugins()
    cogruntime.register_dataquery_variant(variant_config())


# -- statements ---------------------------------------------------------------------------

TIME_FILTER = "$timeFilter"
INTERVAL = "$__interval"


def source(measurement: str) -> str:
    """The FROM of a measurement: qualified with its retention policy when that is not the
    database's default (collector/retention.json), since Grafana's unqualified query reads the
    default policy only."""
    return shipped_retention().qualified(measurement)


def is_(tag: str, value: str) -> str:
    return f"{ident(tag)} = {text(value)}"


def matches_var(tag: str, var: str | None = None) -> str:
    """`"tag" =~ /^$var$/`: how Grafana's InfluxQL filters by a (multi-value) variable."""
    return f"{ident(tag)} =~ /^${var or tag}$/"


def one_of(tag: str, values: Iterable[str]) -> str:
    """`"tag" =~ /^(a|b)$/` for a fixed set (the stations of one regulation group)."""
    alts = "|".join(sorted(values))
    return f"{ident(tag)} =~ /^({alts})$/"


def select(fields: Iterable[str], measurement: str, where: Iterable[str] = (),
           group_by: Iterable[str] = (), fill: str | None = None,
           when: str | None = TIME_FILTER, limit: int | None = None) -> str:
    """One SELECT; `where` clauses are ANDed with `when`, the dashboard's `$timeFilter`
    unless a panel needs its own window (`since("30d")`) or none."""
    conds = [*where, when] if when else list(where)
    q = f"SELECT {', '.join(fields)} FROM {source(measurement)}"
    if conds:
        q += " WHERE " + " AND ".join(conds)
    if group_by:
        q += " GROUP BY " + ", ".join(group_by)
    if fill is not None:
        q += f" fill({fill})"
    if limit is not None:
        q += f" LIMIT {int(limit)}"
    return q


def since(window: str) -> str:
    """A fixed window ending now, for what the time picker must not hide (open alerts)."""
    return f"time > now() - {window}"


def agg(fn: str, field: str, alias: str | None = None) -> str:
    """`last("aqi") AS "aqi"`"""
    out = f"{fn}({ident(field)})"
    return f"{out} AS {ident(alias)}" if alias else out


def col(field: str, alias: str | None = None) -> str:
    return f"{ident(field)} AS {ident(alias)}" if alias else ident(field)


def by_time(interval: str = INTERVAL) -> str:
    return f"time({interval})"


def show_tag_values(key: str, measurement: str = "reading", where: Iterable[str] = ()) -> str:
    """A template variable's query: the values of one tag."""
    q = f"SHOW TAG VALUES FROM {source(measurement)} WITH KEY = {ident(key)}"
    conds = list(where)
    return q + (" WHERE " + " AND ".join(conds) if conds else "")
