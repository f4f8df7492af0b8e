"""A small, stateful fake of Stripe's API (Checkout, PaymentIntents, webhooks) for tests."""
