"""Messaging services: keyword-only, typed workflows named <entity>_<action>."""
