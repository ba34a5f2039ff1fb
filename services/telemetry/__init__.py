"""Logs, metrics and traces for every service."""
