# The ride-completion serving image: model bundle + serving code + a locked environment.
# Built by mlops_workbook.ci.packaging from an assembled context (wheelhouse/, requirements.lock,
# dist/, model/); pip installs only from the wheelhouse, so the build needs no network.
# Layers go from what changes least to what changes most: a code-only change rebuilds the last layers only.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS dependencies
COPY requirements.lock /build/requirements.lock
COPY wheelhouse/ /build/wheelhouse/
# the libraries' own test suites are a quarter of their size and never run here
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /build/wheelhouse -r /build/requirements.lock \
    && find /opt/venv/lib -depth -type d -name tests -exec rm -rf {} +

FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 serving
COPY --from=dependencies /opt/venv /opt/venv
COPY requirements.lock /opt/requirements.lock
COPY dist/ /build/dist/
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps /build/dist/*.whl && rm -rf /build
COPY --chown=serving:serving model/ /srv/model/

ARG GIT_COMMIT=unknown
ARG MODEL_VERSION=unknown
LABEL org.opencontainers.image.title="ride-completion" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      ai.mlops-workbook.model-version="${MODEL_VERSION}"
ENV PATH=/opt/venv/bin:$PATH \
    MODEL_DIR=/srv/model \
    GIT_COMMIT=${GIT_COMMIT} \
    PYTHONDONTWRITEBYTECODE=1
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["uvicorn", "--factory", "mlops_workbook.cd.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
