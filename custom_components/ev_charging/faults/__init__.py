"""Fault detection: detectors as plain Python; Home Assistant glue on top."""
