"""Forecasts of every air station's PM2.5, PM10 and VN_AQI 1–72 h ahead, the rolling-origin
backtest that proves their skill, and the early warnings they drive (README.md)."""
