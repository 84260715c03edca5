# The ride-completion serving image: model bundle + serving code + a locked environment.
# Built by mlops_workbook.core.docker.images from the context mlops_workbook.ci.serving_image assembles
# (wheelhouse/, requirements.lock, dist/, model/, and uv: the installer's single binary, from the workbook's
# environment); uv installs only from the wheelhouse, so the build needs no network.
# Layers go from what changes least to what changes most: a code-only change rebuilds the last layers only.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS dependencies
COPY uv /usr/local/bin/uv
COPY requirements.lock /build/requirements.lock
COPY wheelhouse/ /build/wheelhouse/
# uv installs into /opt/venv, which so holds no pip or setuptools, in a few seconds where pip takes about fifteen.
# Left out as well: bytecode (compiled in memory at start, about 0.3 s), the libraries' own test suites, type
# stubs and C headers, and ONNX Runtime's model-building tools (quantization, transformers, tools).
RUN python3 -m venv --without-pip /opt/venv \
    && uv pip install --python /opt/venv/bin/python --offline --no-cache --no-index \
       --find-links /build/wheelhouse -r /build/requirements.lock \
    && find /opt/venv/lib -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
    && find /opt/venv/lib -type f \( -name '*.pyi' -o -name '*.h' \) -delete \
    && rm -rf /opt/venv/lib/python3*/site-packages/onnxruntime/quantization \
              /opt/venv/lib/python3*/site-packages/onnxruntime/transformers \
              /opt/venv/lib/python3*/site-packages/onnxruntime/tools

FROM dependencies AS package
COPY dist/ /build/dist/
RUN uv pip install --offline --no-cache --no-index --no-deps --target /opt/package /build/dist/*.whl

FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 serving
COPY --from=dependencies /opt/venv /opt/venv
COPY requirements.lock /opt/requirements.lock
COPY --from=package /opt/package /opt/package
COPY --chown=serving:serving model/ /srv/model/

ARG GIT_COMMIT=unknown
ARG MODEL_VERSION=unknown
LABEL org.opencontainers.image.title="ride-completion" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      ai.mlops-workbook.model-version="${MODEL_VERSION}"
# One thread per math library: each request is small, and a pool of threads per core only fights the
# event loop for the container's CPUs (a tree model's p99 goes from ms to hundreds of ms on 2 cores).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/package \
    MODEL_DIR=/srv/model \
    GIT_COMMIT=${GIT_COMMIT} \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
# One uvicorn worker per container, httptools and uvloop, no access log: mlops_workbook/cd/serving/server.py says why.
CMD ["uvicorn", "--factory", "mlops_workbook.cd.serving.app:create_app", "--http", "httptools", "--loop", "uvloop", \
     "--no-access-log", "--host", "0.0.0.0", "--port", "8000"]
