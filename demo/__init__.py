"""A small working model of both platforms the stack watches, with fault injection.

``python -m lookout.demo up`` runs the voice-agent platform (Flask on Gunicorn, an MCP stand-in, ElevenLabs-style
webhooks billed as credits) and the marketplace chat center (FastAPI on Uvicorn, Celery worker and beat,
a fake marketplace and a fake DeepSeek) against a given PostgreSQL and Redis, plus traffic generators.
``python -m lookout.demo fault NAME on|off`` breaks and repairs it. See docs/demo.md.
"""
