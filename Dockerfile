# lookout: our exporters, the demo platforms and the demo's pager stand-in (alert-relay) in one image.
#   docker build -t lookout:0.1.0 .
# Runs as an unprivileged user; the only network used at build time is PyPI (pip).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/lookout

# The package with its `demo` extra (Gunicorn, Uvicorn, FastAPI, Flask, setproctitle for the demo).
COPY pyproject.toml setup.py README.md ./
COPY lookout ./lookout
COPY exporters ./exporters
COPY demo ./demo
COPY examples/demo.yaml ./examples/demo.yaml
COPY dashboards ./dashboards
COPY stack ./stack
COPY monitoring ./monitoring
RUN pip install ".[demo]"
# the demo plays the seeds' facts written in its site file (demo/site_facts.py)
ENV DEMO_SITE_FILE=/opt/lookout/examples/demo.yaml

# the exporter's default port (job `lookout`); the demo's ports are published by compose only
EXPOSE 9808

# /srv/demo-voice: the demo voice API's error log and REVISION (volume shared with the exporter, read-only there);
# the demo's backup job writes to /var/lib/lookout-demo/backups (a named volume takes this owner)
RUN groupadd --system --gid 10001 lookout \
 && useradd --system --uid 10001 --gid lookout --home-dir /nonexistent --shell /usr/sbin/nologin lookout \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/lookout \
 && install -d -o 10001 -g 10001 /var/lib/lookout-demo/backups \
 && install -d -o lookout -g lookout /srv/demo-voice
USER 10001:10001
# the exporter's state (llm_spend's checkpoint), on a volume in compose.yaml
ENV STATE_DIRECTORY=/var/lib/lookout

# /healthz answers 200 while the exporter runs; compose overrides this for the demo containers
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9808/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["python", "-m"]
CMD ["lookout.exporters", "run", "--config", "/etc/lookout/exporters.yaml", "--listen", "0.0.0.0:9808"]
