# Parla: slim Python image with libopus (voice) and the local espeak-ng engine (GPL-3.0-or-later).
FROM python:3.11-slim

# MALLOC_ARENA_MAX: one playback thread per speaking server; few malloc arenas keep RSS steady.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DATA_DIR=/data MALLOC_ARENA_MAX=2
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install ".[local]"

RUN useradd --create-home --uid 10001 parla && mkdir -p /data && chown parla:parla /data
USER parla
VOLUME ["/data"]

HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["parla", "health"]

ENTRYPOINT ["parla"]
CMD ["run"]
