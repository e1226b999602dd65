#!/bin/sh
# Entry point of the `api` image (Dockerfile target `api`).
# On AWS Lambda (AWS_LAMBDA_RUNTIME_API is set) it hands over to the base image's entry point,
# which runs the handler named by CMD (lambdas.api.main.handler) under the runtime interface
# client. Anywhere else (Cloud Run, App Runner, ECS, a VM, `docker run`) it serves the same
# FastAPI app over plain HTTP with uvicorn on $PORT (default 8080); set RUN_AS=lambda to get
# the base image's Lambda runtime interface emulator instead (local invoke tests).
set -eu
if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ] || [ "${RUN_AS:-}" = "lambda" ]; then
    exec /lambda-entrypoint.sh "$@"
fi
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec python -m uvicorn lambdas.api.main:app \
    --host 0.0.0.0 --port "${PORT:-8080}" \
    --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
    --no-server-header --log-level "$(echo "${LOG_LEVEL:-INFO}" | tr '[:upper:]' '[:lower:]')"
