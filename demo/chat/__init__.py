"""The chat-center model: FastAPI on Uvicorn, Celery tasks, the fake marketplace, the user generator."""
