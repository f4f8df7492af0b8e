"""Billing: tariffs, the pricing engine and money; plain Python, no Home Assistant imports."""
