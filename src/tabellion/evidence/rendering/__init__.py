"""Rendering: the sealed PDF proof and the delivery bundle."""
