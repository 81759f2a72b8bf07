# vidsearch: the API and web page, or an indexer. Build args pick the flavour:
#   CPU (default):  docker build -t vidsearch .
#   GPU indexer:    docker build -t vidsearch-gpu --build-arg BASE_IMAGE=nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04 \
#                     --build-arg TORCH_SPEC="torch==2.13.0" --build-arg EXTRAS="postgres,gpu,ray" .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
ARG EXTRAS="postgres"

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
# ffmpeg and espeak-ng make the demo library; python3 for the CUDA base images, which have none.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-dejavu-core python3 python3-pip python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
# torch first: a looser requirement pulled in later would fetch another build.
RUN pip install ${TORCH_SPEC}
COPY pyproject.toml README.md ./
COPY vidsearch ./vidsearch
RUN pip install ".[${EXTRAS}]"

ENV VIDSEARCH_DATA_DIR=/data HF_HOME=/models/hf
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["vidsearch"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
