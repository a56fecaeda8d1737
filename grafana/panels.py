"""Panel pieces every dashboard shares: targets, grid positions, thresholds and value mappings
built from the facts (official index colours, QCVN limits), and the panel kinds we use with
the settings the operations room needs (large values, legends as tables, local time)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from grafana import facts
from grafana.labels import t
from grafana.queries import InfluxQueryBuilder, datasource

LIMIT_COLOUR = "red"
OK_COLOUR = "transparent"
STATUS_COLOURS = ("green", "blue", "red")  # device status 00, 01, 02
QC_COLOURS = {1: "green", 3: "yellow", 4: "red", 9: "purple"}
SEVERITY_COLOURS = {"info": "blue", "warning": "orange", "critical": "red"}


def target(statement: str, ref: str = "A", table_format: bool = False,
           alias: str | None = None) -> InfluxQueryBuilder:
    q = InfluxQueryBuilder(statement, ref)
    if table_format:
        q.table()
    else:
        q.time_series()
    if alias:
        q.alias(alias)
    return q


def pos(x: int, y: int, w: int, h: int) -> dm.GridPos:
    return dm.GridPos(h=h, w=w, x=x, y=y)


# -- thresholds and mappings ----------------------------------------------------------------

def thresholds(steps: Iterable[tuple[float | None, str]]) -> db.ThresholdsConfig:
    return (db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=v, color=c) for v, c in steps]))


def band_thresholds(bands: Sequence[facts.Band]) -> db.ThresholdsConfig:
    """Index value → its band's official colour."""
    return thresholds([(None if i == 0 else float(b.lower), b.colour)
                       for i, b in enumerate(bands)])


def band_mappings(bands: Sequence[facts.Band], lang: str) -> list[dm.ValueMap]:
    """Band key (`good`, `very_bad` …) → its name and colour."""
    return [dm.ValueMap({b.key: dm.ValueMappingResult(text=b.label(lang), color=b.colour,
                                                      index=i)
                         for i, b in enumerate(bands)})]


def advice_mappings(part: str, lang: str) -> list[dm.ValueMap]:
    """Band key → its health message (`health`) or recommended activities (`general`,
    `sensitive`) of Decision 1459 (collector/domain/tables/vn_aqi_1459_health.json), on the
    band's colour; a text the reference lacks shows as missing, never invented."""
    missing = {"vi": "(thiếu văn bản trong tài liệu tham chiếu)",
               "en": "(text missing from the reference)"}[lang]
    return text_mappings((b.key, facts.aqi_advice(b.key)[part][lang] or missing, b.colour)
                         for b in facts.aqi_bands())


def text_mappings(items: Iterable[tuple[str, str, str | None]]) -> list[dm.ValueMap]:
    """(value, shown text, colour or None) → one value mapping."""
    return [dm.ValueMap({v: dm.ValueMappingResult(text=txt, color=c, index=i)
                         for i, (v, txt, c) in enumerate(items)})]


def pollutant_mappings() -> list[dm.ValueMap]:
    return text_mappings((p, facts.param_name(p), None) for p in facts.aqi_params())


def status_mappings(lang: str) -> list[dm.ValueMap]:
    return text_mappings((str(i), t(f"status.{i}", lang), c)
                         for i, c in enumerate(STATUS_COLOURS))


def online_mappings(lang: str) -> list[dm.ValueMap]:
    return text_mappings((v, t(f"online.{v}", lang), c)
                         for v, c in (("true", "green"), ("false", "red")))


def severity_mappings(lang: str) -> list[dm.ValueMap]:
    return text_mappings((k, t(f"severity.{k}", lang), c) for k, c in SEVERITY_COLOURS.items())


def fmt(x: float) -> str:
    return f"{x:g}"


def limit_text(limit: facts.Limit, lang: str) -> str:
    unit = facts.unit_name(limit.unit)
    parts = []
    if limit.below is not None:
        parts.append(t("limit.min", lang, value=fmt(limit.below), unit=unit))
    if limit.above is not None:
        parts.append(t("limit.max", lang, value=fmt(limit.above), unit=unit))
    out = ", ".join(parts)
    for day, above, below in limit.later:
        later = facts.Limit(limit.param, limit.period, limit.unit, above, below)
        out += t("limit.from", lang, date=day, limit=limit_text(later, lang))
    return out


def limit_thresholds(limit: facts.Limit) -> db.ThresholdsConfig:
    """Red below a minimum and above a maximum (every value the limit takes over time)."""
    highs = sorted({x for x in (limit.above, *(a for _, a, _ in limit.later)) if x is not None})
    lows = sorted({x for x in (limit.below, *(b for _, _, b in limit.later)) if x is not None})
    steps: list[tuple[float | None, str]] = [(None, LIMIT_COLOUR if lows else OK_COLOUR)]
    if lows:
        steps.append((lows[-1], OK_COLOUR))  # the strictest minimum
    steps += [(h, LIMIT_COLOUR) for h in highs]
    return thresholds(steps)


# -- panel kinds ----------------------------------------------------------------------------

def legend_table() -> cb.VizLegendOptions:
    return (cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.RIGHT).show_legend(True)
            .calcs(["lastNotNull", "max"]))


def series(title: str, targets: Iterable[InfluxQueryBuilder], grid: dm.GridPos,
           unit: str = "", description: str = "", bars: bool = False,
           legend: bool = True) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).datasource(datasource()).grid_pos(grid)
         .line_width(2).fill_opacity(10 if not bars else 80).span_nulls(False)
         .show_points(cm.VisibilityMode.AUTO))
    for q in targets:
        p.with_target(q)
    if bars:
        p.draw_style(cm.GraphDrawStyle.BARS)
    if unit:
        p.unit(unit)
    if description:
        p.description(description)
    if legend:
        p.legend(legend_table())
    return p


def with_thresholds(p: timeseries.Panel, th: db.ThresholdsConfig,
                    mode: cm.GraphThresholdsStyleMode) -> timeseries.Panel:
    return p.thresholds(th).thresholds_style(cb.GraphThresholdsStyleConfig().mode(mode))


def big(title: str, targets: Iterable[InfluxQueryBuilder], grid: dm.GridPos,
        th: db.ThresholdsConfig | None = None, mappings: list | None = None,
        unit: str = "", description: str = "", text_mode: cm.BigValueTextMode | None = None,
        calc: str = "lastNotNull") -> stat.Panel:
    p = (stat.Panel().title(title).datasource(datasource()).grid_pos(grid)
         .color_mode(cm.BigValueColorMode.BACKGROUND).graph_mode(cm.BigValueGraphMode.NONE)
         .reduce_options(cb.ReduceDataOptions().calcs([calc]).values(False)))
    for q in targets:
        p.with_target(q)
    if th is not None:
        p.thresholds(th)
    if mappings:
        p.mappings(mappings)
    if unit:
        p.unit(unit)
    if description:
        p.description(description)
    if text_mode is not None:
        p.text_mode(text_mode)
    return p


def grid_table(title: str, targets: Iterable[InfluxQueryBuilder], grid: dm.GridPos,
               description: str = "", transformations: Iterable[dm.DataTransformerConfig] = ()
               ) -> table.Panel:
    p = (table.Panel().title(title).datasource(datasource()).grid_pos(grid)
         .cell_height(cm.TableCellHeight.SM).filterable(True))
    for q in targets:
        p.with_target(q)
    if description:
        p.description(description)
    for tr in transformations:
        p.with_transformation(tr)
    return p


def timeline(title: str, targets: Iterable[InfluxQueryBuilder], grid: dm.GridPos,
             mappings: list, description: str = "") -> statetimeline.Panel:
    p = (statetimeline.Panel().title(title).datasource(datasource()).grid_pos(grid)
         .mappings(mappings).show_value(cm.VisibilityMode.NEVER).row_height(0.8)
         .merge_values(True).fill_opacity(80)
         .legend(cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
                 .placement(cm.LegendPlacement.BOTTOM)))
    for q in targets:
        p.with_target(q)
    if description:
        p.description(description)
    return p


def colour_cells(field: str) -> tuple[dm.MatcherConfig, list[dm.DynamicConfigValue]]:
    """Override: colour a table column's cells by its mappings or thresholds."""
    return (dm.MatcherConfig(id_val="byName", options=field),
            [dm.DynamicConfigValue(id_val="custom.cellOptions",
                                   value={"type": "color-background"})])


def rename(field: str, shown: str) -> tuple[dm.MatcherConfig, list[dm.DynamicConfigValue]]:
    return (dm.MatcherConfig(id_val="byName", options=field),
            [dm.DynamicConfigValue(id_val="displayName", value=shown)])


def override(field: str, **props: object) -> tuple[dm.MatcherConfig,
                                                  list[dm.DynamicConfigValue]]:
    """Override `field` with properties given as Python names (`unit`, `mappings` …)."""
    names = {"custom_cell": "custom.cellOptions", "display_name": "displayName"}
    return (dm.MatcherConfig(id_val="byName", options=field),
            [dm.DynamicConfigValue(id_val=names.get(k, k), value=v) for k, v in props.items()])


def transform(kind: str, **options: object) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=kind, options=options)


def row(title: str, y: int, collapsed: bool = False) -> db.Row:
    return db.Row(title).grid_pos(pos(0, y, 24, 1)).collapsed(collapsed)


class Flow:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line."""

    def __init__(self, y: int = 0) -> None:
        self.x, self.y, self.h = 0, y, 0

    def newline(self) -> None:
        if self.x:
            self.x, self.y, self.h = 0, self.y + self.h, 0

    def row(self) -> int:
        """The y of a full-width row header; what follows goes below it."""
        self.newline()
        self.y += 1
        return self.y - 1

    def place(self, w: int, h: int) -> dm.GridPos:
        if self.x + w > 24:
            self.newline()
        g = pos(self.x, self.y, w, h)
        self.x += w
        self.h = max(self.h, h)
        return g
