# fancommunity: one image for every process (web, worker, priority, migrate, backup).
# docker-compose.yml runs it with the Procfile's lines; docs/OPERATIONS.md describes the rest.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDIA_ROOT=/data/media \
    BACKUP_DIR=/data/backups

# pg_dump / pg_restore for `manage.py db_backup` (client 15, the server's major version).
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time and served by whitenoise; the build needs a throwaway
# key only because settings refuse to load without one when DEBUG is off.
RUN DEBUG=false SECRET_KEY=build-only-not-secret-0123456789-0123456789-0123456789 ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput -v 0

# Uploaded files (MMS images, import files) live on a volume every process mounts, so the worker
# that runs an import reads the file the web process received.
RUN useradd --system --uid 10001 --home-dir /app fancommunity \
    && mkdir -p /data/media /data/backups \
    && chown -R fancommunity /data
USER fancommunity
VOLUME ["/data/media"]
EXPOSE 8000

# The web container's check: /healthz answers 200 while the database answers (served before the
# HTTPS redirect and the Host check). Workers override it in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# The Procfile's web line (docker-compose.yml overrides the command for the other processes).
CMD ["sh", "-c", "granian fancommunity.wsgi:application --interface wsgi --host 0.0.0.0 --port ${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --blocking-threads ${WEB_THREADS:-16} --no-ws --no-access-log --respawn-failed-workers --workers-max-rss 1024 --workers-kill-timeout 20"]
