"""The vendor's server callbacks (zego-api.md §12): what the avatar and the task did.

:mod:`gateway.callbacks.verify` is the pure part (parse, authenticate, refuse stale and
replayed callbacks, apply a retried one once); :mod:`gateway.callbacks.receiver` is the aiohttp
endpoint around it (``POST /zego/callback``, bounded in body size and rate).
"""
