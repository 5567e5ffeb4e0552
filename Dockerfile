# finfeed image: CPU torch (the embedded backend and the CLI); GPU inference runs in SGLang.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 FINFEED_CACHE_DIR=/var/cache/finfeed
WORKDIR /app
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY finfeed finfeed
COPY pipeline pipeline
COPY models models
COPY workers workers
COPY training training
RUN pip install . && useradd -r -u 10001 finfeed && mkdir -p /var/cache/finfeed && chown finfeed /var/cache/finfeed
USER finfeed
ENTRYPOINT ["finfeed"]
