"""The voice-agent platform model: Flask webhooks on Gunicorn, the MCP stand-in, the call generator."""
