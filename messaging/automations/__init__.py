"""Automations (issue 14): keyword automations, the welcome series, drops and date-relative messages.

A layer between sending (below: scheduled steps go through the campaign engine) and conversations
(above: the inbound rule processor asks this package what a talent keyword does).
"""
