# One image for the API and every pipeline job; two targets:
#   docker build --target cpu -t mmwe:latest .       (default in docker-compose.yml: python slim, faiss-cpu)
#   docker build --target gpu -t mmwe:gpu .          (CUDA runtime base, faiss-gpu, CUDA build of torch)
# Build steps call the same Make targets as the README's quick start (`make system-deps`, `make install`), so a
# dependency added to pyproject.toml or the Makefile reaches the image without editing this file.
# Both images run as the unprivileged user `mmwe` (uid 10001) and keep artifacts under /data (a volume).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# --- CPU image -----------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu
# Optional extra wheel index for pip (for example PyTorch's CPU-only wheel index, which keeps the image small).
ARG PIP_EXTRA_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    VENV=/opt/venv MMWE_DATA_DIR=/data MMWE_HOST=0.0.0.0 MMWE_PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/mmwe

# Dependencies first (a cached layer keyed on pyproject.toml and the Makefile), then the code.
COPY pyproject.toml README.md Makefile ./
COPY app/__init__.py app/__init__.py
COPY index/__init__.py index/__init__.py
COPY evaluation/__init__.py evaluation/__init__.py
COPY training/__init__.py training/__init__.py
RUN make system-deps && rm -rf /var/lib/apt/lists/*
RUN make install PYTHON_BOOT=python3.11 VENV=$VENV

COPY . .
RUN groupadd --system --gid 10001 mmwe \
    && useradd --system --uid 10001 --gid mmwe --home-dir /srv/mmwe --no-create-home mmwe \
    && mkdir -p /data /var/lib/mmwe && chown mmwe:mmwe /data /var/lib/mmwe
USER mmwe
ENV PATH=$VENV/bin:$PATH
VOLUME /data
EXPOSE 8000
CMD ["python", "-m", "app", "serve"]

# --- GPU image -----------------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive \
    VENV=/opt/venv MMWE_DATA_DIR=/data MMWE_HOST=0.0.0.0 MMWE_PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends make python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/mmwe

COPY pyproject.toml README.md Makefile ./
COPY app/__init__.py app/__init__.py
COPY index/__init__.py index/__init__.py
COPY evaluation/__init__.py evaluation/__init__.py
COPY training/__init__.py training/__init__.py
RUN make system-deps && rm -rf /var/lib/apt/lists/*
# The default torch wheel for Linux is the CUDA build. FAISS: the GPU wheel replaces the CPU one (both provide
# the `faiss` module); the requirement is the `gpu` extra of pyproject.toml.
RUN make install PYTHON_BOOT=python3 VENV=$VENV \
    && $VENV/bin/pip uninstall -y faiss-cpu \
    && $VENV/bin/pip install 'faiss-gpu>=1.8'

COPY . .
RUN groupadd --system --gid 10001 mmwe \
    && useradd --system --uid 10001 --gid mmwe --home-dir /srv/mmwe --no-create-home mmwe \
    && mkdir -p /data /var/lib/mmwe && chown mmwe:mmwe /data /var/lib/mmwe
USER mmwe
ENV PATH=$VENV/bin:$PATH
VOLUME /data
EXPOSE 8000
CMD ["python", "-m", "app", "serve"]
