"""OCPP 1.6 charging profiles the central system sends."""

from ocpp.v16 import call

# Fixed ids, so a new limit replaces the previous one instead of stacking up.
CHARGER_LIMIT_PROFILE_ID = 1
CONNECTOR_LIMIT_PROFILE_ID = 2


def current_limit(connector_id: int, amperes: float) -> call.SetChargingProfile:
    """A limit from now on: connector 0 limits the whole charger (ChargePointMaxProfile), a
    connector the sessions on it (TxDefaultProfile)."""
    whole_charger = connector_id == 0
    return call.SetChargingProfile(
        connector_id=connector_id,
        cs_charging_profiles={
            "chargingProfileId": CHARGER_LIMIT_PROFILE_ID
            if whole_charger
            else CONNECTOR_LIMIT_PROFILE_ID,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile"
            if whole_charger
            else "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                # The schema allows one decimal.
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(float(amperes), 1)}],
            },
        },
    )
