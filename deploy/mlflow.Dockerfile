# MLflow's tracking server with the PostgreSQL driver its backend store URI names.
FROM python:3.11-slim
RUN pip install --no-cache-dir 'mlflow>=3' psycopg2-binary
ENTRYPOINT ["mlflow", "server"]
