"""Dynamic tariffs follow Home Assistant price sensors: their changes reach the cashier."""

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers.event import async_track_state_change_event

from .csms.central import CentralSystem


@callback
def async_follow_price_sensors(hass: HomeAssistant, central: CentralSystem) -> Callable[[], None]:
    """Record the price sensors of dynamic tariffs and of the electricity the owner buys,
    now and on every change; returns the unsubscribe."""
    billing = central.settings.billing
    entity_ids = sorted(
        {
            tariff.dynamic.entity_id
            for tariff in billing.tariffs.values()
            if tariff.dynamic is not None
        }
        | ({billing.electricity_price_sensor} if billing.electricity_price_sensor else set())
    )
    if not entity_ids:
        return lambda: None

    async def record(state: State | None) -> None:
        if state is None:
            return
        try:
            # The state is text: the price goes from it to Decimal without a float between.
            price = Decimal(state.state)
        except InvalidOperation:
            return  # unknown or unavailable: the last known price goes on
        if not price.is_finite():
            return
        await central.cashier.price_changed(state.entity_id, state.last_changed, price)
        for charger in list(central.chargers.values()):
            charger.notify()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        hass.async_create_task(record(event.data["new_state"]), eager_start=True)

    for entity_id in entity_ids:
        hass.async_create_task(record(hass.states.get(entity_id)), eager_start=True)
    return async_track_state_change_event(hass, entity_ids, changed)
