"""Constants of the EV Charging integration."""

from datetime import timedelta
from typing import Final

DOMAIN: Final = "ev_charging"

CONF_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"
CONF_AUTO_ACCEPT: Final = "auto_accept"
CONF_CHARGERS: Final = "chargers"
CONF_CHARGER_ID: Final = "charger_id"
CONF_PING_INTERVAL: Final = "ping_interval"
CONF_START_TRANSACTION_DELAY: Final = "start_transaction_delay"
CONF_LENIENT: Final = "lenient"
CONF_REPLACE_CONNECTION: Final = "replace_connection"
CONF_KEEP_CONFIGURATION: Final = "keep_configuration"
CONF_CHARGER_MAX_POWER_KW: Final = "charger_max_power_kw"
CONF_MAX_FRAME_KIB: Final = "max_frame_kib"
DEFAULT_MAX_FRAME_KIB: Final = 64
CONF_MAX_STRANGERS: Final = "max_strangers"
DEFAULT_MAX_STRANGERS: Final = 50
CONF_REMOTE_ID_TAG: Final = "remote_id_tag"
CONF_METER_VALUE_INTERVAL: Final = "meter_value_interval"
CONF_PASSWORDS: Final = "password_hashes"
CONF_REMOVE_PASSWORD: Final = "remove_password"
CONF_SSL_CERTIFICATE: Final = "ssl_certificate"
CONF_SSL_KEY: Final = "ssl_key"
CONF_UNKNOWN_TAGS: Final = "unknown_tags"
CONF_FREE_CHARGING: Final = "free_charging"

# An ID tag is a config subentry of this type; these are its fields.
SUBENTRY_ID_TAG: Final = "id_tag"
CONF_ID_TAG: Final = "id_tag"
CONF_USER_ID: Final = "user_id"
CONF_EXPIRES: Final = "expires"
CONF_BLOCKED: Final = "blocked"
CONF_PARENT_ID_TAG: Final = "parent_id_tag"
CONF_ALLOWED_CHARGERS: Final = "allowed_chargers"

# A tariff is a config subentry of this type; these are its fields (amounts as text).
SUBENTRY_TARIFF: Final = "tariff"
CONF_PRICE_PER_KWH: Final = "price_per_kwh"
CONF_SESSION_FEE: Final = "session_fee"
CONF_IDLE_FEE: Final = "idle_fee_per_minute"
CONF_IDLE_GRACE: Final = "idle_grace_minutes"
CONF_TIME_OF_USE: Final = "time_of_use"
CONF_PRICE_SENSOR: Final = "price_sensor"
CONF_PRICE_FACTOR: Final = "price_factor"
CONF_PRICE_MARKUP: Final = "price_markup"
CONF_DEFAULT: Final = "default"
CONF_VERSION: Final = "version"
# Billing options, and the tariff a charger uses.
CONF_PRICES_INCLUDE_VAT: Final = "prices_include_vat"
CONF_VAT_PERCENT: Final = "vat_percent"
CONF_TARIFF: Final = "tariff"
CONF_ELECTRICITY_PRICE: Final = "electricity_price"
CONF_ELECTRICITY_PRICE_SENSOR: Final = "electricity_price_sensor"
# An account (a condo unit, a household) is a config subentry; tags name their account.
SUBENTRY_ACCOUNT: Final = "account"
CONF_ACCOUNT: Final = "account"
# Sessions paid through the kiosk are billed to this built-in account.
GUEST_ACCOUNT: Final = "guest"

# Fault detection thresholds: options under CONF_FAULT_DETECTION.
CONF_FAULT_DETECTION: Final = "fault_detection"
CONF_OFFLINE_MULTIPLE: Final = "offline_multiple"
CONF_STALLED_MINUTES: Final = "stalled_minutes"
CONF_MISSED_INTERVALS: Final = "missed_intervals"
CONF_MAX_POWER_KW: Final = "max_power_kw"
CONF_FLAPPING_LIMIT: Final = "flapping_limit"
CONF_FLAPPING_MINUTES: Final = "flapping_minutes"
CONF_DEGRADATION_REPEATS: Final = "degradation_repeats"
CONF_MAX_TEMPERATURE: Final = "max_temperature"
CONF_REPAIR_AFTER_MINUTES: Final = "repair_after_minutes"

# The kiosk's key for the integration's narrow API: only its salted hash is kept.
CONF_KIOSK_KEY_HASH: Final = "kiosk_key_hash"
CONF_REMOVE_KIOSK_KEY: Final = "remove_kiosk_key"

DEFAULT_HOST: Final = "0.0.0.0"
DEFAULT_PORT: Final = 9000
DEFAULT_HEARTBEAT_INTERVAL: Final = 60
DEFAULT_AUTO_ACCEPT: Final = False
DEFAULT_METER_VALUE_INTERVAL: Final = 60

LEDGER_FILENAME: Final = "ev_charging.db"
# Raw transaction frames answered "ok" are kept this long (their content is in the
# transactions and readings); refused ones are kept for good.
RAW_FRAME_RETENTION: Final = timedelta(days=7)
PRUNE_INTERVAL: Final = timedelta(hours=6)
# How often we note that we still run (the gaps are downtime) and refresh uptime sensors.
ALIVE_INTERVAL: Final = timedelta(minutes=1)
