# Two images from one file, one per Lambda function; CDK builds each with its target
# (infra/stack.py, IMAGE_TARGETS):
#   api       lambdas.api.main.handler          requirements/api.txt: the request path only
#             (numpy, scipy, FastAPI, pydantic, Mangum, boto3, Powertools, orjson, uvicorn);
#             off Lambda it serves the app over HTTP on $PORT (docker/api-entrypoint.sh)
#   training  lambdas.training.handler.handler  requirements/training.txt: the whole runtime
# Every package comes from the target's lock file (requirements/<target>.txt, made by
# uv pip compile) with sha256 hashes (--require-hashes, wheels only). The base image is pinned
# by the digest of the public.ecr.aws/lambda/python:3.12 image index (re-resolve with
# `skopeo inspect --format '{{.Digest}}' docker://public.ecr.aws/lambda/python:3.12`);
# Dependabot proposes new digests (.github/dependabot.yml).
FROM public.ecr.aws/lambda/python:3.12@sha256:0628ddc11919f85f4261517d356392dbbc6b3181568d87a376ae2e814464c230 AS base

FROM base AS api
COPY requirements/api.txt ${LAMBDA_TASK_ROOT}/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        --requirement "${LAMBDA_TASK_ROOT}/requirements.txt" \
        --target "${LAMBDA_TASK_ROOT}"
COPY shared/ ${LAMBDA_TASK_ROOT}/shared/
COPY lambdas/ ${LAMBDA_TASK_ROOT}/lambdas/
COPY docker/api-entrypoint.sh /usr/local/bin/api-entrypoint.sh
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/bin/sh", "/usr/local/bin/api-entrypoint.sh"]
CMD ["lambdas.api.main.handler"]

FROM base AS training
COPY requirements/training.txt ${LAMBDA_TASK_ROOT}/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        --requirement "${LAMBDA_TASK_ROOT}/requirements.txt" \
        --target "${LAMBDA_TASK_ROOT}"
COPY shared/ ${LAMBDA_TASK_ROOT}/shared/
COPY lambdas/ ${LAMBDA_TASK_ROOT}/lambdas/
CMD ["lambdas.training.handler.handler"]
