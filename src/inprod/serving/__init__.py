"""The prediction server: one ASGI app with the data plane (/v1, /v2), the control plane (/api),
/metrics, /healthz and /readyz. See docs/serving.md."""
