# One image for both Lambda functions; each function overrides CMD in its image config:
#   training: lambdas.training.handler.handler   api: lambdas.api.main.handler
FROM public.ecr.aws/lambda/python:3.12

# Runtime dependencies only (pinned in requirements.txt), installed beside the code.
COPY requirements.txt ${LAMBDA_TASK_ROOT}/
RUN pip install --no-cache-dir --disable-pip-version-check \
        --requirement "${LAMBDA_TASK_ROOT}/requirements.txt" \
        --target "${LAMBDA_TASK_ROOT}"

# Application code: the domain package and the two handlers; nothing else of the repository.
COPY shared/ ${LAMBDA_TASK_ROOT}/shared/
COPY lambdas/ ${LAMBDA_TASK_ROOT}/lambdas/

CMD ["lambdas.api.main.handler"]
