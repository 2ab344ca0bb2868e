"""Tiered history: readings past the full-resolution window compacted with exact energy.

``compact`` (the gateway-days, one transaction each), ``plan`` (which readings a day
keeps), ``settings`` (the defaults; a leaf the configuration reads).
"""
