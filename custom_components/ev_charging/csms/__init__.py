"""The OCPP central system: plain Python, no Home Assistant imports."""
