"""Monitoring of served models: the reference kept with each version, drift of the request
log against it, live metrics from feedback, alerts and retraining.

Modules, one job each: ``reference`` (what a version keeps at packaging time), ``stats``
(the drift tests, pure), ``scan`` (the request log read in bounded batches), ``drift``
(reference vs live), ``feedback`` (ground truth and live metrics), ``alerts`` (thresholds,
dedupe, delivery), ``report`` (the JSON and HTML reports), ``live`` (rolling gauges in the
server), ``retrain`` (rerun the recipe through the gates), ``monitor`` (assembly).
"""
