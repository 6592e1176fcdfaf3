# One image for the API and the jobs. Build steps call the same Make targets the README uses.
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VENV=/opt/venv \
    MMWE_DATA_DIR=/data MMWE_HOST=0.0.0.0 MMWE_PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends make wordnet-base \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/mmwe

# Dependencies first (cached layer), then the code.
COPY pyproject.toml README.md Makefile ./
COPY app/__init__.py app/__init__.py
COPY index/__init__.py index/__init__.py
COPY training/__init__.py training/__init__.py
RUN make install PYTHON_BOOT=python3.11 VENV=$VENV

COPY . .
RUN useradd --system --uid 10001 --home /srv/mmwe mmwe && mkdir -p /data && chown mmwe /data
USER mmwe
ENV PATH=$VENV/bin:$PATH
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["make", "serve", "VENV=/opt/venv"]
