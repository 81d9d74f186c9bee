"""Pure analyzers: numpy arrays and PCM in, frozen dataclasses out (no asyncio/aiohttp/aiortc)."""
