"""Tests of the EV Charging integration."""
