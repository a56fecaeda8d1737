"""What the province government receives: Circular 10/2021 data files by FTP(S), alerts and
hourly indices by REST, daily open data (README.md)."""
