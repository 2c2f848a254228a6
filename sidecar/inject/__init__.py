"""Kubernetes sidecar injection: puts one sidecar next to every annotated agent pod.

A mutating admission webhook (`sidecar inject serve`) and an offline renderer (`sidecar inject
render`) share one injector, so what `render` prints is exactly what the cluster would run.
The package knows pods, annotations and JSONPatch, nothing of the engine: the sidecar it adds
is the same image started with `sidecar run`. This module imports nothing, because the probe
and the egress lock run as `python -m sidecar.inject.<tool>` inside small containers.
"""
