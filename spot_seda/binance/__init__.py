"""Binance's Spot API wire format, with no I/O: error codes and texts, request parameters, JSON views of
orders, trades and candles, stream payloads and request signatures.

It sits beside the domain model (it imports model/ and engine/ constants only), so that stages, the
runtime and the aiohttp apps in api/ can all speak it without an arrow pointing up a layer.
"""
