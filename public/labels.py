"""Every word the page shows, in Vietnamese (the default) and English. Band names, health
messages and recommended activities are not here: they are the decision's, read from
collector/domain/tables through public.facts."""

from __future__ import annotations

LANGS = ("vi", "en")

WORDS: dict[str, dict[str, str]] = {
    "title": {"vi": "Chất lượng không khí và nước Phú Quốc",
              "en": "Phú Quốc air and water quality"},
    "intro": {"vi": "Số liệu từ các trạm quan trắc tự động, cập nhật liên tục.",
              "en": "Data from the automatic monitoring stations, updated continuously."},
    "switch": {"vi": "English", "en": "Tiếng Việt"},
    "map": {"vi": "Bản đồ trạm", "en": "Station map"},
    "map_label": {"vi": "Vị trí các trạm trên đảo, tô màu theo mức chất lượng",
                  "en": "Station positions on the island, coloured by quality level"},
    "air": {"vi": "Trạm không khí", "en": "Air stations"},
    "water": {"vi": "Trạm nước", "en": "Water stations"},
    "legend": {"vi": "Chú giải VN_AQI", "en": "VN_AQI legend"},
    "station": {"vi": "Trạm", "en": "Station"},
    "aqi": {"vi": "VN_AQI giờ", "en": "Hourly VN_AQI"},
    "level": {"vi": "Mức", "en": "Level"},
    "status": {"vi": "Tình trạng", "en": "Status"},
    "updated": {"vi": "Cập nhật", "en": "Updated"},
    "stale": {"vi": "Số liệu cũ", "en": "Stale"},
    "no_data": {"vi": "Chưa có số liệu", "en": "No data yet"},
    "within": {"vi": "Đạt quy chuẩn", "en": "Within the regulation"},
    "exceeds": {"vi": "Vượt quy chuẩn", "en": "Exceeds the regulation"},
    "preliminary": {"vi": "Sơ bộ, chưa thẩm định", "en": "Preliminary, not yet reviewed"},
    "approved": {"vi": "Đã thẩm định", "en": "Reviewed"},
    "minutes_ago": {"vi": "{n} phút trước", "en": "{n} min ago"},
    "hours_ago": {"vi": "{n} giờ trước", "en": "{n} h ago"},
    "back": {"vi": "Tất cả các trạm", "en": "All stations"},
    "location": {"vi": "Vị trí", "en": "Location"},
    "coordinates": {"vi": "Tọa độ", "en": "Coordinates"},
    "health": {"vi": "Ảnh hưởng sức khỏe", "en": "Health effects"},
    "general": {"vi": "Người bình thường", "en": "General public"},
    "sensitive": {"vi": "Nhóm nhạy cảm", "en": "Sensitive groups"},
    "sub": {"vi": "Chỉ số thành phần", "en": "Sub-indices"},
    "parameter": {"vi": "Thông số", "en": "Parameter"},
    "index": {"vi": "Chỉ số", "en": "Index"},
    "dominant": {"vi": "cao nhất", "en": "highest"},
    "latest": {"vi": "Giá trị trung bình giờ mới nhất", "en": "Latest hourly means"},
    "value": {"vi": "Giá trị", "en": "Value"},
    "limit": {"vi": "Giới hạn", "en": "Limit"},
    "limits_from": {"vi": "Giới hạn theo", "en": "Limits from"},
    "time": {"vi": "Thời điểm", "en": "Time"},
    "last72": {"vi": "72 giờ qua", "en": "Last 72 hours"},
    "next72": {"vi": "72 giờ tới (dự báo)", "en": "Next 72 hours (forecast)"},
    "no_forecast": {"vi": "Chưa có dự báo.", "en": "No forecast yet."},
    "forecast_note": {"vi": "Dự báo, không phải số đo: lập lúc {issued} ({model}).",
                      "en": "A forecast, not a measurement: issued {issued} ({model})."},
    "model_gbm": {"vi": "mô hình thống kê của trạm", "en": "the station's statistical model"},
    "model_persistence": {"vi": "giữ nguyên giá trị hiện tại: chưa đủ dữ liệu cho mô hình",
                          "en": "persistence: too little history for a model"},
    "forecast_daily": {"vi": "VN_AQI ngày dự báo", "en": "Forecast daily VN_AQI"},
    "forecast_hourly": {"vi": "VN_AQI giờ dự báo", "en": "Forecast hourly VN_AQI"},
    "forecast_value": {"vi": "VN_AQI dự báo", "en": "Forecast VN_AQI"},
    "forecast_band": {"vi": "Khoảng 10–90 %", "en": "10–90 % range"},
    "chart_label": {"vi": "{p} trong 72 giờ qua: thấp nhất {lo}, cao nhất {hi}",
                    "en": "{p} over the last 72 hours: lowest {lo}, highest {hi}"},
    "source": {"vi": "Nguồn số liệu và phương pháp tính", "en": "Data source and method"},
    "source_text": {
        "vi": "Nguồn số liệu: trạm quan trắc tự động, liên tục {station} của mạng quan trắc "
              "{network}; số liệu đã qua kiểm tra chất lượng tự động (QA/QC), số liệu không hợp "
              "lệ bị loại bỏ, số liệu chưa được cán bộ thẩm định được ghi là sơ bộ.",
        "en": "Data source: the automatic, continuous monitoring station {station} of the "
              "{network} network; data pass automatic quality control (QA/QC), invalid data "
              "are removed, data not yet reviewed by the department's staff are marked "
              "preliminary."},
    "method_text": {
        "vi": "Phương pháp tính: VN_AQI theo Quyết định 1459/QĐ-TCMT ngày 12/11/2019 của Tổng "
              "cục Môi trường. AQI giờ: chỉ số thành phần của SO2, CO, NO2, O3 tính từ trung "
              "bình 1 giờ; của PM10 và PM2.5 từ giá trị NowCast của 12 giờ gần nhất. Mỗi chỉ số "
              "thành phần được nội suy tuyến tính giữa các điểm ngưỡng của bảng trong Quyết "
              "định; VN_AQI là chỉ số thành phần lớn nhất và chỉ được tính khi có chỉ số PM10 "
              "hoặc PM2.5.",
        "en": "Method: VN_AQI as set out in Decision 1459/QĐ-TCMT of 12 November 2019 of the "
              "Vietnam Environment Administration. Hourly AQI: the sub-indices of SO2, CO, NO2 "
              "and O3 come from 1-hour means, those of PM10 and PM2.5 from the NowCast of the "
              "last 12 hours. Each sub-index is interpolated linearly between the breakpoints "
              "of the decision's table; VN_AQI is the highest sub-index and is computed only "
              "with a PM10 or PM2.5 sub-index."},
    "water_method": {
        "vi": "Tình trạng nước: trung bình 1 giờ mới nhất của từng thông số so với giới hạn "
              "của {regulation}.",
        "en": "Water status: each parameter's latest 1-hour mean against the limits of "
              "{regulation}."},
    "open_data": {"vi": "Dữ liệu mở", "en": "Open data"},
    "api": {"vi": "API JSON và CSV", "en": "JSON and CSV API"},
    "sta": {"vi": "OGC SensorThings API", "en": "OGC SensorThings API"},
    "air_kind": {"vi": "Không khí", "en": "Air"},
    "tap_water": {"vi": "Nước cấp", "en": "Tap water"},
    "surface_water": {"vi": "Nước mặt", "en": "Surface water"},
    "wastewater": {"vi": "Nước thải", "en": "Wastewater"},
    "sea_water": {"vi": "Nước biển ven bờ", "en": "Coastal sea water"},
    "unavailable": {"vi": "Tạm thời chưa đọc được cơ sở dữ liệu; vui lòng thử lại sau một "
                          "phút.",
                    "en": "The database is not answering for the moment; please try again in a "
                          "minute."},
    "not_found": {"vi": "Không có trạm này", "en": "No such station"},
}


def t(key: str, lang: str, **kw: object) -> str:
    text = WORDS[key][lang]
    return text.format(**kw) if kw else text


def lang_of(value: str | None) -> str:
    return value if value in LANGS else "vi"
