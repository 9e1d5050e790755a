"""The REST API: `rest` (the aiohttp app of the Acquiring stage) on top of pure, state-free modules:
`errors` (Binance codes and texts), `auth` (signatures, timestamps), `params` (request parameters to
typed commands), `views` (entities to Binance JSON) and `openapi` (the API's description).

Importing this package imports nothing heavy: `spot_seda.accounts` and the stages use `errors` alone.
"""
