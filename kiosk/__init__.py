"""The guest payment kiosk: QR codes on the chargers, a page per connector, and (to come)
Stripe Checkout. It talks to Home Assistant only through the integration's kiosk API."""
