"""Every word the dashboards show, in Vietnamese (the default) and English.

Index band names come from the index tables and parameter, unit and period names from the
alert rules (grafana/facts.py); this file holds the rest. `t(key, lang, **fields)` formats one.
"""

from __future__ import annotations

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"

TEXTS: dict[str, tuple[str, str]] = {
    # dashboards
    "dash.overview": ("Tổng quan mạng quan trắc", "Network overview"),
    "dash.air": ("Trạm không khí — {regulation}", "Air stations — {regulation}"),
    "dash.water": ("{kind} — {regulation}{column}", "{kind} — {regulation}{column}"),
    "dash.alerts": ("Cảnh báo", "Alerts"),
    "dash.quality": ("Chất lượng dữ liệu và thiết bị", "Data quality and devices"),
    "dash.wall": ("Tường màn hình phòng điều hành", "Operations room wall"),
    "dash.links": ("Các bảng điều khiển quan trắc", "Monitoring dashboards"),
    # kinds and regulation columns
    "kind.air": ("Không khí", "Air"),
    "kind.tap_water": ("Nước cấp", "Tap water"),
    "kind.wastewater": ("Nước thải", "Wastewater"),
    "kind.sea_water": ("Nước biển ven bờ", "Coastal sea water"),
    "kind.surface_water": ("Nước mặt (nguồn nước thô)", "Surface water (raw-water source)"),
    "column": (", cột {column}", ", column {column}"),
    "column.bathing": (", vùng tắm biển", ", bathing waters"),
    "column.aquaculture": (", vùng nuôi trồng thủy sản", ", aquaculture waters"),
    "column.conservation": (", vùng bảo tồn", ", conservation waters"),
    "column.other": (", mục đích khác", ", other uses"),
    # variables
    "var.kind": ("Loại trạm", "Station kind"),
    "var.station": ("Trạm", "Station"),
    "var.param": ("Thông số", "Parameter"),
    # rows
    "row.index": ("Chỉ số chất lượng", "Quality index"),
    "row.limits": ("So sánh với {regulation}", "Against {regulation}"),
    "row.readings": ("Số liệu đo", "Readings"),
    "row.qc": ("Chất lượng dữ liệu", "Data quality"),
    "row.devices": ("Thiết bị trạm", "Station devices"),
    # overview
    "map": ("Bản đồ trạm: VN_AQI và VN_WQI giờ gần nhất",
            "Stations: latest hourly VN_AQI and VN_WQI"),
    "map.desc": ("Màu theo thang chính thức của Quyết định 1459 (VN_AQI) và 1460 (VN_WQI).",
                 "Colours are the official scales of Decisions 1459 (VN_AQI) and 1460 (VN_WQI)."),
    "layer.aqi": ("VN_AQI (trạm không khí)", "VN_AQI (air stations)"),
    "layer.wqi": ("VN_WQI tham khảo (trạm nước mặt)", "Indicative VN_WQI (surface water)"),
    "aqi.now": ("VN_AQI giờ gần nhất", "Latest hourly VN_AQI"),
    "wqi.now": ("VN_WQI giờ gần nhất, tham khảo (nước mặt; chưa đủ số liệu để công bố)",
                "Latest hourly VN_WQI, indicative (surface water; too few parameters to "
                "publish)"),
    "stations": ("Trạm: lần nhận cuối và độ đầy đủ dữ liệu",
                 "Stations: last seen and data completeness"),
    "aqi.hourly": ("VN_AQI theo giờ", "Hourly VN_AQI"),
    "row.forecast": ("Dự báo 72 giờ (không phải số đo)", "72-hour forecast (not a measurement)"),
    "fc.title": ("{param}: đo và dự báo", "{param}: measured and forecast"),
    "fc.title.aqi": ("VN_AQI giờ: đo và dự báo", "Hourly VN_AQI: measured and forecast"),
    "fc.measured": ("Đo", "Measured"),
    "fc.central": ("Dự báo", "Forecast"),
    "fc.p10": ("Dự báo, phân vị 10", "Forecast, 10th percentile"),
    "fc.p90": ("Dự báo, phân vị 90", "Forecast, 90th percentile"),
    "fc.desc": ("Đường liền: giá trị đo (trung bình 1 giờ). Đường đứt và dải: dự báo của trạm "
                "(giá trị trung tâm, phân vị 10–90), mỗi giờ theo bản dự báo mới nhất cho giờ "
                "đó; là dự báo, không phải số đo.",
                "Solid line: measured (1-hour mean). Dashed line and band: the station's "
                "forecast (central value, 10th–90th percentile), each hour from the latest "
                "forecast made for it; a forecast, not a measurement."),
    "fc.wall": ("Dự báo (không phải số đo): VN_AQI giờ cao nhất trong 24 giờ tới",
                "Forecast (not a measurement): highest hourly VN_AQI in the next 24 h"),
    "fc.wall.desc": ("Mỗi trạm không khí: VN_AQI giờ dự báo cao nhất trong 24 giờ tới, mỗi giờ "
                     "theo bản dự báo mới nhất cho giờ đó và chỉ bản phát hành không quá 26 giờ "
                     "trước giờ đó (trạm không có bản dự báo như vậy: không hiện). Là dự báo, "
                     "không phải số đo; cảnh báo dự báo ở Màn 9–10 và `quantrac alerts list`.",
                     "Each air station: the highest forecast hourly VN_AQI in the next 24 h, each "
                     "hour from the latest forecast made for it, and only one issued at most 26 h "
                     "before it (a station without one is not shown). A forecast, not a "
                     "measurement; forecast warnings on screens 9–10 and `quantrac alerts "
                     "list`."),
    "wqi.hourly": ("VN_WQI theo giờ, tham khảo (nước mặt)",
                   "Hourly VN_WQI, indicative (surface water)"),
    "alerts.open.count": ("Cảnh báo đang mở", "Open alerts"),
    # columns
    "col.station": ("Trạm", "Station"),
    "col.last_seen": ("Nhận lần cuối", "Last seen"),
    "col.completeness": ("Độ đầy đủ số liệu giờ", "Hourly completeness"),
    "col.time": ("Thời điểm", "Time"),
    "col.rule": ("Quy tắc", "Rule"),
    "col.severity": ("Mức độ", "Severity"),
    "col.state": ("Trạng thái", "State"),
    "col.event": ("Sự kiện", "Event"),
    "col.text": ("Nội dung", "Message"),
    "col.value": ("Giá trị", "Value"),
    "col.limit": ("Giới hạn", "Limit"),
    "col.unit": ("Đơn vị", "Unit"),
    "col.id": ("Mã cảnh báo", "Alert id"),
    "col.ack_by": ("Người xác nhận", "Acknowledged by"),
    "col.ack_note": ("Ghi chú xác nhận", "Acknowledgement note"),
    "col.param": ("Thông số", "Parameter"),
    "col.aqi": ("VN_AQI", "VN_AQI"),
    "col.band": ("Mức", "Band"),
    "col.dominant": ("Chất ô nhiễm chính", "Dominant pollutant"),
    "col.online": ("Kết nối", "Connection"),
    "col.fw": ("Firmware", "Firmware"),
    "col.heap": ("Heap trống", "Free heap"),
    "col.backlog": ("Bản ghi tồn", "Backlog"),
    "col.rssi": ("RSSI", "RSSI"),
    "col.uptime": ("Thời gian chạy", "Uptime"),
    "col.errors": ("Số lỗi", "Errors"),
    "col.reset": ("Nguyên nhân khởi động lại", "Reset cause"),
    "col.crumb": ("Trạm đang làm", "Doing at reset"),
    "col.boots": ("Số lần khởi động", "Boots"),
    "col.slot": ("Khe firmware", "Slot"),
    "col.update": ("Kết quả cập nhật gần nhất", "Last update result"),
    "col.update_ver": ("Phiên bản cập nhật", "Update version"),
    "col.why": ("Lý do", "Why"),
    "col.when": ("Lúc", "When"),
    "col.count": ("Số lần", "Count"),
    "col.stations": ("Số trạm", "Stations"),
    "col.status01": ("Thời gian 01 (hiệu chuẩn)", "Time in 01 (calibrating)"),
    "col.status02": ("Thời gian 02 (lỗi thiết bị)", "Time in 02 (device error)"),
    # air and water detail
    "aqi.current": ("VN_AQI giờ gần nhất", "Latest hourly VN_AQI"),
    "aqi.dominant.now": ("Chất ô nhiễm chính (giờ gần nhất)", "Dominant pollutant (latest hour)"),
    "aqi.daily": ("VN_AQI theo ngày", "Daily VN_AQI"),
    "aqi.dominant.hourly": ("Chất ô nhiễm chính theo giờ", "Dominant pollutant by hour"),
    "aqi.daily.table": ("VN_AQI ngày và chất ô nhiễm chính",
                        "Daily VN_AQI and dominant pollutant"),
    "aqi.sub": ("Chỉ số phụ VN_AQI theo giờ", "Hourly VN_AQI sub-indices"),
    "aqi.advice": ("VN_AQI giờ gần nhất: ảnh hưởng sức khỏe và khuyến nghị",
                   "Latest hourly VN_AQI: health effects and recommended activities"),
    "aqi.advice.desc": ("Bảng 4 và 5, Quyết định 1459/QĐ-TCMT",
                        "Decision 1459/QD-TCMT of the Vietnam Environment Administration, "
                        "Tables 4 and 5"),
    "col.health": ("Ảnh hưởng tới sức khỏe", "Health effects"),
    "col.general": ("Người bình thường", "General public"),
    "col.sensitive": ("Nhóm người nhạy cảm", "Sensitive groups"),
    "wqi.current": ("VN_WQI tham khảo giờ gần nhất", "Latest hourly indicative VN_WQI"),
    "wqi.official": ("VN_WQI chính thức (Quyết định 1460)",
                     "Official VN_WQI (Decision 1460)"),
    "wqi.status.computed": ("Đã tính (đủ số liệu)", "Computed (enough data)"),
    "wqi.status.not_computed": ("Chưa tính: chưa đủ số liệu", "Not computed: too little data"),
    "wqi.why": ("Vì sao chưa tính VN_WQI chính thức", "Why no official VN_WQI"),
    "wqi.sub": ("Chỉ số phụ VN_WQI theo giờ", "Hourly VN_WQI sub-indices"),
    "mean": ("{param} trung bình {period}", "{period} mean {param}"),
    "mean.fallback": ("Giới hạn theo {source}, chờ văn bản {regulation}.",
                      "Limit from {source}, pending {regulation} text."),
    "mean.limit": ("Đường đỏ: giới hạn {regulation} ({limit}). Điểm là trung bình {period} kết "
                   "thúc tại thời điểm đó.",
                   "Red line: the {regulation} limit ({limit}). Each point is the {period} mean "
                   "ending at that time."),
    "mean.provisional": ("Điểm của ngày chưa kết thúc là ước tính tạm thời (provisional); "
                         "giới hạn 24 giờ chỉ được đánh giá khi cả ngày đã kết thúc "
                         "(daily_limit).",
                         "The point of a day still in progress is a provisional running "
                         "estimate; the 24-hour limit is judged on the finished day only "
                         "(daily_limit)."),
    "mean.nolimit": ("{regulation} không quy định giới hạn cho thông số này.",
                     "{regulation} sets no limit for this parameter."),
    "limit.max": ("tối đa {value} {unit}", "at most {value} {unit}"),
    "limit.min": ("tối thiểu {value} {unit}", "at least {value} {unit}"),
    "limit.from": ("; từ {date}: {limit}", "; from {date}: {limit}"),
    "volume": ("Lượng nước thải xả theo ngày", "Daily discharge volume"),
    "volume.about": ("Tổng lưu lượng trung bình từng giờ × 1 giờ trong ngày (giờ Việt Nam, "
                     "0 h đến 24 h); giờ thiếu số liệu được bù bằng lưu lượng trung bình của "
                     "ngày. Điểm đặt tại nửa đêm kết thúc ngày.",
                     "Sum of the hourly mean flows × 1 h over the local day (Vietnam time, "
                     "midnight to midnight); hours without data are filled at the day's mean "
                     "flow. Each point sits at the midnight that ends its day."),
    "readings": ("Số liệu đo: {param}", "Readings: {param}"),
    "status.timeline": ("Trạng thái thiết bị đo (00, 01, 02)", "Sensor status (00, 01, 02)"),
    "status.0": ("00 Đang đo", "00 Measuring"),
    "status.1": ("01 Hiệu chuẩn", "01 Calibrating"),
    "status.2": ("02 Lỗi thiết bị", "02 Device error"),
    # alerts
    "alerts.open": ("Cảnh báo đang mở", "Open alerts"),
    "alerts.history": ("Lịch sử cảnh báo", "Alert history"),
    "alerts.per_day": ("Cảnh báo mở mới theo ngày", "Alerts opened per day"),
    "alerts.by_rule": ("Cảnh báo theo quy tắc", "Alerts by rule"),
    "alerts.maintenance": ("Bảo trì: cảnh báo tạm dừng, số liệu được đánh dấu",
                           "Maintenance: alerts silenced, data marked"),
    "maintenance.ongoing": ("đang diễn ra", "ongoing"),
    "col.source": ("Nguồn", "Source"),
    "col.until": ("Đến", "Until"),
    "col.reason": ("Lý do", "Reason"),
    "col.by": ("Người thực hiện", "By"),
    "source.operator": ("Kế hoạch (vận hành)", "Planned (operator)"),
    "source.calibration": ("Hiệu chuẩn (trạng thái 01)", "Calibration (status 01)"),
    "annotation": ("Cảnh báo", "Alerts"),
    "severity.info": ("Thông tin", "Info"),
    "severity.warning": ("Cảnh báo", "Warning"),
    "severity.critical": ("Nghiêm trọng", "Critical"),
    "state.open": ("Đang mở", "Open"),
    "state.closed": ("Đã đóng", "Closed"),
    "event.open": ("Mở", "Opened"),
    "event.update": ("Cập nhật", "Updated"),
    "event.close": ("Đóng", "Closed"),
    "event.ack": ("Đã xác nhận", "Acknowledged"),
    "event.escalate": ("Chuyển cấp", "Escalated"),
    # quality and devices
    "qc.shares": ("Tỷ lệ cờ chất lượng QC", "QC flag shares"),
    "qc.over_time": ("Cờ chất lượng QC theo thời gian", "QC flags over time"),
    "qc.1": ("1 Tốt", "1 Good"),
    "qc.3": ("3 Nghi ngờ", "3 Suspect"),
    "qc.4": ("4 Không đạt", "4 Fail"),
    "qc.9": ("9 Thiếu số liệu", "9 Missing"),
    "status.time": ("Thời gian ở trạng thái 01 và 02", "Time in status 01 and 02"),
    "status.by_station": ("Trạng thái thiết bị đo theo trạm", "Sensor status by station"),
    "completeness": ("Độ đầy đủ số liệu theo giờ", "Hourly data completeness"),
    "devices": ("Thiết bị trạm: kết nối, firmware, tài nguyên",
                "Station devices: connection, firmware, resources"),
    "online.true": ("Trực tuyến", "Online"),
    "online.false": ("Mất kết nối", "Offline"),
    "online.timeline": ("Kết nối của trạm", "Station connection"),
    "backlog": ("Số bản ghi tồn trên trạm", "Backlog depth"),
    "rssi": ("Cường độ sóng Wi-Fi (RSSI)", "Wi-Fi signal (RSSI)"),
    "heap": ("Bộ nhớ heap trống", "Free heap"),
    "errors": ("Số lỗi từ lần khởi động", "Errors since boot"),
    "firmware": ("Phiên bản firmware", "Firmware versions"),
    "resets": ("Các lần khởi động lại", "Restarts"),
    "reset.causes": ("Nguyên nhân khởi động lại", "Reset causes"),
    "fleet": ("Firmware của các trạm", "Fleet firmware"),
    "fleet.desc": ("Mỗi trạm: phiên bản và khe (a hoặc b) đang chạy (lần khởi động gần nhất), "
                   "kết quả cập nhật firmware qua mạng gần nhất và lý do khởi động lại; như "
                   "`quantrac fleet status`.",
                   "Per station: the version and the slot (a or b) it runs (its latest boot), "
                   "its last over-the-air update result and why it last booted; as `quantrac "
                   "fleet status`."),
    "slot.none": ("không (nạp không qua OTA)", "none (flashed without OTA)"),
    "update.good": ("Tốt", "Good"),
    "update.staged": ("Đang chạy thử", "On trial"),
    "update.download": ("Đang tải", "Downloading"),
    "update.refused": ("Bị từ chối", "Refused"),
    "update.rolled_back": ("Đã quay lại bản cũ", "Rolled back"),
    "collector": ("Bộ thu thập: hàng đợi và spool", "Collector: queue and spool"),
    "collector.queued": ("Tin nhắn chờ xử lý", "Messages queued"),
    "collector.spool": ("Spool chưa ghi vào CSDL", "Spool not yet in the database"),
    # wall
    "screen": ("Màn {n}. ", "Screen {n}. "),
    # noise (docs/noise.md)
    "dash.noise": ("Tiếng ồn — QCVN 26", "Noise — QCVN 26"),
    "row.noise": ("Tiếng ồn theo khoảng thời gian trong ngày",
                  "Noise by period of the day"),
    "noise.hourly": ("LAeq 1 giờ so với giới hạn ngày và đêm",
                     "Hourly LAeq against the day and night limits"),
    "noise.hourly.desc": ("LAeq 1 giờ là trung bình năng lượng (không phải trung bình cộng) "
                          "của các LAeq 5 phút. Đường giới hạn: {limits}. LAeq 1 giờ vượt "
                          "giới hạn của khoảng thời gian chứa giờ đó thì mở cảnh báo tiếng ồn.",
                          "The hourly LAeq is the energy mean (not the arithmetic mean) of the "
                          "5-minute LAeq values. Limit lines: {limits}. An hourly LAeq above "
                          "the limit of the period it falls in opens a noise alert."),
    "noise.limit": ("{regulation}, khu vực {area}, {period}: {limit} dBA{until}",
                    "{regulation}, {area} area, {period}: {limit} dBA{until}"),
    "noise.until": (" (đến hết {day})", " (until {day})"),
    "noise.unjudged": (" {regulations}: giờ của các khoảng thời gian hoặc khu vực của trạm chưa "
                       "tìm thấy, chưa đánh giá",
                       " {regulations}: the periods' clock hours or the station's area are "
                       "not found, nothing judged yet"),
    "noise.periods": ("LAeq cả khoảng thời gian (đánh giá khi khoảng kết thúc)",
                      "Whole-period LAeq (judged when the period ends)"),
    "noise.periods.desc": ("Trung bình năng lượng của các LAeq 1 giờ đầy đủ trong khoảng, so "
                           "với giới hạn của khoảng đó (noise_period).",
                           "Energy mean of the period's complete hourly LAeq values against "
                           "that period's limit (noise_period)."),
    "noise.lamax": ("Sự kiện LAmax (mức ồn lớn nhất từng 5 phút)",
                    "LAmax events (the loudest level of each 5 minutes)"),
    "noise.lamax.desc": ("Xe tải, máy bay, còi: LAmax cao trong khi LAeq thấp hơn nhiều.",
                         "Trucks, aircraft, horns: a high LAmax while the LAeq stays much "
                         "lower."),
    "noise.spread": ("Độ trải L10 – L90 theo giờ", "Hourly L10 – L90 spread"),
    "noise.spread.desc": ("L10: mức vượt 10 % thời gian (đỉnh giao thông); L90: mức vượt 90 % "
                          "thời gian (nền). Giá trị giờ là trung bình cộng của các giá trị 5 "
                          "phút, một giá trị gần đúng.",
                          "L10: the level exceeded 10 % of the time (traffic peaks); L90: "
                          "exceeded 90 % of the time (background). The hourly value is the "
                          "arithmetic mean of the 5-minute values, an approximation."),
    "noise.alerts": ("Cảnh báo tiếng ồn", "Noise alerts"),
    "col.period": ("Khoảng", "Period"),
    "col.laeq": ("LAeq (dBA)", "LAeq (dBA)"),
    "col.exceeded": ("Vượt", "Exceeded"),
    "col.regulation": ("Quy chuẩn", "Regulation"),
    "col.hours": ("Số giờ đủ", "Complete hours"),
    "noise.wall": ("Tiếng ồn: LAeq 1 giờ", "Noise: hourly LAeq"),
    "noise.verdict.true": ("Vượt giới hạn", "Above the limit"),
    "noise.verdict.false": ("Đạt", "Within"),
}


def t(key: str, lang: str, **fields: object) -> str:
    """The text for `key` in `lang` ("vi" or "en"), with `{fields}` filled in."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    try:
        vi, en = TEXTS[key]
    except KeyError:
        raise KeyError(f"grafana/labels.py has no text {key!r}") from None
    return (vi if lang == "vi" else en).format(**fields)


def has(key: str) -> bool:
    return key in TEXTS
