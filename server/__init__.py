"""Candor server: aiohttp signaling, HR API and pages, interview sessions."""
